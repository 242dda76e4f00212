import { Backoff, type BackoffOptions } from './backoff.js';
import { retryAfter, SwitchboardClientError, toClientError } from './errors.js';
import type { ConversationId, Message, SendInput } from './protocol.js';
import type { JsonValue } from './storage.js';

/** A message waiting for the server's `ok`. */
export type OutboxEntry = SendInput & {
  /** When it was queued (ms since epoch). */
  queuedAt: number;
};

/** The answer to a `message:send`: the stored message, and whether it was a resend. */
export interface SendResult {
  message: Message;
  duplicate: boolean;
}

export interface OutboxOptions {
  /** Sends once; resolves with the answer or throws a {@link SwitchboardClientError}. */
  transmit(entry: OutboxEntry): Promise<SendResult>;
  /** Resolves when the connection can carry a send (rejects once the client is closed). */
  ready(): Promise<void>;
  /** Stores the entries that must survive a restart (all but those with an attachment). */
  persist(entries: JsonValue): void;
  sent(entry: OutboxEntry, result: SendResult): void;
  failed(entry: OutboxEntry, error: SwitchboardClientError): void;
  /** Backoff between retries after a timeout or a retryable error (default 500 ms … 30 s, full jitter). */
  backoff?: BackoffOptions;
}

interface Pending {
  entry: OutboxEntry;
  resolve?: (result: SendResult) => void;
  reject?: (err: SwitchboardClientError) => void;
}

/**
 * Messages on their way to the server. Each is sent again with the same `clientMessageId`
 * until the server answers `ok` or a non-retryable error, which makes sending exactly-once
 * on the server's side (it deduplicates by `clientMessageId`, docs/protocol.md §12).
 *
 * Order: per conversation, one message is in flight at a time, so the server assigns
 * seqs in the order `send` was called; conversations do not wait for each other.
 * Retries: after a disconnect, at once when the connection is back; after a timeout or a
 * retryable error (`RATE_LIMITED`, `UNAVAILABLE`, `INTERNAL`), after a full-jitter backoff
 * (at least `retryAfterMs` when the server names it). A non-retryable error removes the
 * message and rejects its promise; the next message of the conversation goes on.
 */
export class Outbox {
  private readonly queues = new Map<ConversationId, Pending[]>();
  private readonly running = new Set<ConversationId>();
  private readonly wakers = new Set<() => void>();
  private closed = false;

  constructor(private readonly options: OutboxOptions) {}

  /** Puts back entries stored by an earlier run; they are sent without a promise to settle. */
  restore(stored: JsonValue | undefined): void {
    if (!Array.isArray(stored)) return;
    for (const raw of stored) {
      const entry = raw as unknown as OutboxEntry;
      if (typeof entry?.clientMessageId !== 'string' || typeof entry.conversationId !== 'string') continue;
      if (this.all().some((p) => p.entry.clientMessageId === entry.clientMessageId)) continue;
      this.queue(entry.conversationId).push({ entry });
    }
    this.persist();
    for (const conversationId of this.queues.keys()) void this.run(conversationId);
  }

  /** Queues a message; resolves with the stored message once the server accepted it. */
  enqueue(entry: OutboxEntry): Promise<SendResult> {
    if (this.closed) return Promise.reject(SwitchboardClientError.closed());
    return new Promise<SendResult>((resolve, reject) => {
      this.queue(entry.conversationId).push({ entry, resolve, reject });
      this.persist();
      void this.run(entry.conversationId);
    });
  }

  /** Every message not yet accepted, in queue order per conversation. */
  pending(): OutboxEntry[] {
    return this.all().map((p) => p.entry);
  }

  /** Cuts every backoff wait short (e.g. the connection is back). */
  wake(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /**
   * Stops sending. The promises of pending messages reject with `CLOSED`, but the messages
   * stay in storage and are sent by the next client created on it.
   */
  close(): void {
    this.closed = true;
    this.wake();
    for (const p of this.all()) p.reject?.(SwitchboardClientError.closed());
    this.queues.clear();
  }

  private async run(conversationId: ConversationId): Promise<void> {
    if (this.running.has(conversationId)) return;
    this.running.add(conversationId);
    const backoff = new Backoff(this.options.backoff);
    try {
      for (let head = this.head(conversationId); head && !this.closed; head = this.head(conversationId)) {
        try {
          await this.options.ready();
          const result = await this.options.transmit(head.entry);
          this.settle(conversationId, head);
          backoff.reset();
          head.resolve?.(result);
          this.options.sent(head.entry, result);
        } catch (thrown) {
          if (this.closed) return;
          const err = toClientError(thrown);
          if (!err.retryable) {
            this.settle(conversationId, head);
            backoff.reset();
            head.reject?.(err);
            this.options.failed(head.entry, err);
          } else if (err.code !== 'DISCONNECTED') {
            // A disconnect needs no wait of its own: ready() waits for the reconnect, which has its backoff.
            await this.sleep(Math.max(backoff.next(), retryAfter(err)));
          }
        }
      }
    } finally {
      this.running.delete(conversationId);
    }
  }

  private head(conversationId: ConversationId): Pending | undefined {
    return this.queues.get(conversationId)?.[0];
  }

  private settle(conversationId: ConversationId, done: Pending): void {
    const queue = this.queues.get(conversationId);
    if (!queue) return;
    const i = queue.indexOf(done);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0) this.queues.delete(conversationId);
    this.persist();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private queue(conversationId: ConversationId): Pending[] {
    let queue = this.queues.get(conversationId);
    if (!queue) this.queues.set(conversationId, (queue = []));
    return queue;
  }

  private all(): Pending[] {
    return [...this.queues.values()].flat();
  }

  private persist(): void {
    // Attachments are binary and may be large: they are not written to storage (see README).
    const entries = this.all().map((p) => p.entry).filter((e) => e.attachment === undefined);
    this.options.persist(entries as unknown as JsonValue);
  }
}

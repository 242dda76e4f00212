import { retryAfter, SwitchboardClientError } from './errors.js';
import { InboxCursor } from './inbox-cursor.js';
import { OrderedDelivery, type MessageSource } from './ordered-delivery.js';
import type { ConversationId, Envelope, HistoryPage, InboxOffset, InboxSynced, Message, RequestMap, RequestName, Seq } from './protocol.js';
import type { JsonValue, StorageWriter } from './storage.js';

/** How many seqs before a first-seen conversation's start may still be delivered when they arrive live. */
const LATE_WINDOW = 20;

/** What survives a restart on the receiving side. */
interface StoredInbox {
  /** Every inbox entry up to here is done on this device. */
  offset: InboxOffset | null;
  /** The newest seq delivered per conversation. */
  seqs: Record<ConversationId, Seq>;
}

export interface InboxSyncOptions {
  storage: StorageWriter;
  key: string;
  request<E extends RequestName>(event: E, payload: RequestMap[E]['payload']): Promise<RequestMap[E]['answer']>;
  /** Whether a request can go out now (acks are only sent then). */
  connected(): boolean;
  message(message: Message, source: MessageSource): void;
  /** Any other server event, after duplicates were dropped. */
  event(name: string, envelope: Envelope): void;
  skipped(conversationId: ConversationId, seqs: Seq[]): void;
  error(err: unknown): void;
  ackIntervalMs: number;
  gapTimeoutMs: number;
  historyPageSize: number;
}

/**
 * The receiving side of docs/protocol.md §12: drops repeated inbox offsets, puts
 * `message:new` in seq order (gap filling from history), acknowledges the highest
 * contiguous offset the app has (batched), persists the position, and catches up from
 * history after `inbox:synced` (all conversations behind the server, everything when
 * entries were `lost`).
 */
export class InboxSync {
  private cursor = new InboxCursor(null);
  private readonly ordered: OrderedDelivery;
  /** Offsets of `message:new` events whose message has not reached the app yet. */
  private readonly waiting = new Map<ConversationId, { seq: Seq; offset: InboxOffset }[]>();
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private dirty = false;
  private closed = false;

  constructor(private readonly options: InboxSyncOptions) {
    this.ordered = new OrderedDelivery({
      fetchAfter: (conversationId, after) => this.readAfter(conversationId, after),
      deliver: (m, source) => options.message(m, source),
      moved: (conversationId) => this.settle(conversationId),
      skipped: (conversationId, seqs) => options.skipped(conversationId, seqs),
      onError: (err) => options.error(err),
      gapTimeoutMs: options.gapTimeoutMs,
    });
  }

  /** Picks up where an earlier run stopped (what {@link flush} stored); call before connecting. */
  restore(stored: JsonValue | undefined): void {
    const restored = parseStored(stored);
    this.cursor = new InboxCursor(restored.offset);
    for (const [conversationId, seq] of Object.entries(restored.seqs)) this.ordered.baseline(conversationId, seq);
  }

  /** `auth.inbox` for the next handshake. */
  handshake(): { after?: InboxOffset } {
    return this.cursor.handshake();
  }

  /** The newest seq the app has in a conversation. */
  lastSeq(conversationId: ConversationId): Seq | undefined {
    return this.ordered.lastSeq(conversationId);
  }

  /** Starts a conversation at `seq` if it has no position yet (e.g. it was just created: 0). */
  baseline(conversationId: ConversationId, seq: Seq): void {
    this.ordered.baseline(conversationId, seq);
  }

  /** Every server event goes through here first. */
  receive(name: string, envelope: Envelope): void {
    if (this.closed) return;
    const offset = envelope.offset;
    if (offset !== undefined && !this.cursor.receive(offset)) {
      // A resend means the server has not seen our acknowledgement: send it again soon.
      this.cursor.repeatAck();
      this.schedule();
      return;
    }
    if (name === 'message:new') {
      const message = envelope.payload.data as Message;
      if (offset !== undefined) this.wait(message, offset);
      this.ordered.accept(message, 'live');
      this.settle(message.conversationId);
      return;
    }
    if (name === 'room:created') this.ordered.baseline((envelope.payload.data as { conversation: { id: string } }).conversation.id, 0);
    this.options.event(name, envelope);
    if (offset !== undefined) this.done(offset);
  }

  /** A message this client sent was accepted: it takes its place in the conversation's order. */
  sent(message: Message): void {
    this.ordered.accept(message, 'sent');
  }

  /** Applies `inbox:synced`, acknowledges, then catches up from history. */
  async synced(data: InboxSynced): Promise<void> {
    const lost = this.cursor.synced(data) === 'reset' || data.lost;
    this.dirty = true;
    await this.flush();
    const { conversations } = await this.options.request('room:list', {});
    // One conversation at a time: history reads share the `query` rate limit.
    for (const c of conversations) {
      if (this.closed) return;
      // A conversation seen for the first time starts now (or, after a loss, at the read
      // cursor). Messages stored just before room:list answered may still be on their way
      // live: the late window lets them through.
      this.ordered.baseline(c.id, lost ? Math.min(c.readSeq, c.lastSeq) : c.lastSeq, LATE_WINDOW);
      await this.ordered.catchUp(c.id, c.lastSeq);
    }
  }

  /** Sends the due acknowledgement and writes the position to storage. */
  async flush(): Promise<void> {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const due = this.cursor.due();
    if (due !== null && this.options.connected()) {
      try {
        await this.options.request('inbox:ack', { offset: due });
        this.cursor.acknowledged(due);
      } catch (err) {
        this.options.error(err);
        if (err instanceof SwitchboardClientError && err.retryable) this.schedule(retryAfter(err));
      }
    }
    if (!this.dirty) return;
    this.dirty = false;
    const stored: StoredInbox = { offset: this.handshake().after ?? null, seqs: this.ordered.positions() };
    await this.options.storage.write(this.options.key, stored as unknown as JsonValue);
  }

  /** Stops timers after a last flush. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    this.ordered.close();
    clearTimeout(this.ackTimer);
  }

  private wait(message: Message, offset: InboxOffset): void {
    let list = this.waiting.get(message.conversationId);
    if (!list) this.waiting.set(message.conversationId, (list = []));
    list.push({ seq: message.seq, offset });
  }

  /** Offsets whose message is delivered (or known to be a repeat) are done. */
  private settle(conversationId: ConversationId): void {
    this.dirty = true;
    const lastSeq = this.ordered.lastSeq(conversationId);
    const list = this.waiting.get(conversationId);
    if (list && lastSeq !== undefined) {
      const remaining = list.filter((w) => w.seq > lastSeq);
      for (const w of list) if (w.seq <= lastSeq) this.done(w.offset);
      if (remaining.length > 0) this.waiting.set(conversationId, remaining);
      else this.waiting.delete(conversationId);
    }
    this.schedule();
  }

  private done(offset: InboxOffset): void {
    this.cursor.complete(offset);
    this.dirty = true;
    this.schedule();
  }

  private schedule(delayMs = 0): void {
    if (this.ackTimer !== undefined || this.closed) return;
    this.ackTimer = setTimeout(() => void this.flush(), Math.max(delayMs, this.options.ackIntervalMs));
  }

  /** One history page after `after`, waiting out rate limits (history shares the `query` class). */
  private async readAfter(conversationId: ConversationId, after: Seq): Promise<HistoryPage> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.options.request('message:history', { conversationId, after, limit: this.options.historyPageSize });
      } catch (err) {
        if (!(err instanceof SwitchboardClientError) || err.code !== 'RATE_LIMITED' || attempt >= 5) throw err;
        await new Promise((resolve) => setTimeout(resolve, retryAfter(err)));
      }
    }
  }
}

function parseStored(value: JsonValue | undefined): StoredInbox {
  const v = (value ?? {}) as Partial<StoredInbox>;
  const offset = typeof v.offset === 'number' && Number.isSafeInteger(v.offset) && v.offset >= 0 ? v.offset : null;
  const seqs: Record<ConversationId, Seq> = {};
  if (v.seqs && typeof v.seqs === 'object') for (const [k, s] of Object.entries(v.seqs)) if (typeof s === 'number') seqs[k] = s;
  return { offset, seqs };
}

import type { ConversationId, HistoryPage, Message, Seq } from './protocol.js';
import { OrderingBuffer, type OrderingBufferOptions } from './ordering-buffer.js';

/** Where a delivered message came from. */
export type MessageSource = 'live' | 'history' | 'sent';

export interface OrderedDeliveryOptions extends OrderingBufferOptions {
  /** Reads the messages after `after`, ascending (one `message:history` page). */
  fetchAfter(conversationId: ConversationId, after: Seq): Promise<HistoryPage>;
  /** Hands one message to the app; called in seq order per conversation, once per id. */
  deliver(message: Message, source: MessageSource): void;
  /** The conversation's position moved (to persist it and settle inbox offsets). */
  moved(conversationId: ConversationId, lastSeq: Seq): void;
  /** Seqs that were given up on after `gapTimeoutMs`. */
  skipped(conversationId: ConversationId, seqs: Seq[]): void;
  /** A history read failed (the gap stays open until the timer or the next catch-up). */
  onError(err: unknown): void;
  /** How long a gap may hold messages back before they are delivered anyway (default 10 000 ms). */
  gapTimeoutMs?: number;
}

/**
 * Delivers messages in seq order per conversation: offers them to an {@link OrderingBuffer},
 * fills a gap from history (paging `after: lastSeq` until `hasMore` is false) and, when a gap
 * is still open `gapTimeoutMs` after it appeared, gives up on it so that a lost seq never
 * blocks a conversation for good.
 */
export class OrderedDelivery {
  private readonly buffer: OrderingBuffer<Message>;
  private readonly filling = new Set<ConversationId>();
  private readonly again = new Set<ConversationId>();
  private readonly timers = new Map<ConversationId, ReturnType<typeof setTimeout>>();
  private closed = false;

  constructor(private readonly options: OrderedDeliveryOptions) {
    this.buffer = new OrderingBuffer(options);
  }

  /** The newest seq delivered in a conversation, if any. */
  lastSeq(conversationId: ConversationId): Seq | undefined {
    return this.buffer.lastSeq(conversationId);
  }

  /** The position of every conversation, to persist. */
  positions(): Record<ConversationId, Seq> {
    return this.buffer.positions();
  }

  /** Starts a conversation at `seq` unless it already has a position (see {@link OrderingBuffer.baseline}). */
  baseline(conversationId: ConversationId, seq: Seq, lateWindow = 0): void {
    this.buffer.baseline(conversationId, seq, lateWindow);
  }

  /** Offers a message that arrived; fills the gap behind it from history if there is one. */
  accept(message: Message, source: MessageSource): void {
    if (this.push(message, source)) void this.fill(message.conversationId);
  }

  /**
   * Brings a conversation up to date from history when the server has newer messages than
   * were delivered (`serverLastSeq`, from `room:list`), or unconditionally without it.
   * Resolves when the reads are done.
   */
  async catchUp(conversationId: ConversationId, serverLastSeq?: Seq): Promise<void> {
    const known = this.buffer.lastSeq(conversationId);
    if (known === undefined) return;
    if (serverLastSeq !== undefined && serverLastSeq <= known) return;
    await this.fill(conversationId);
  }

  /** Stops the gap timers; nothing is delivered afterwards. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** Returns whether a gap is open after the message. */
  private push(message: Message, source: MessageSource): boolean {
    if (this.closed) return false;
    const before = this.buffer.lastSeq(message.conversationId);
    const { deliver, gap } = this.buffer.accept(message);
    for (const m of deliver) this.options.deliver(m, source);
    this.settle(message.conversationId, before, gap);
    return gap;
  }

  private settle(conversationId: ConversationId, before: Seq | undefined, gap: boolean): void {
    const after = this.buffer.lastSeq(conversationId);
    if (after !== undefined && after !== before) this.options.moved(conversationId, after);
    if (!gap) {
      const timer = this.timers.get(conversationId);
      if (timer !== undefined) clearTimeout(timer);
      this.timers.delete(conversationId);
    } else if (!this.timers.has(conversationId)) {
      this.timers.set(conversationId, setTimeout(() => this.giveUp(conversationId), this.options.gapTimeoutMs ?? 10_000));
    }
  }

  private giveUp(conversationId: ConversationId): void {
    this.timers.delete(conversationId);
    if (this.closed) return;
    const before = this.buffer.lastSeq(conversationId);
    const { deliver, skipped } = this.buffer.giveUp(conversationId);
    if (skipped.length > 0) this.options.skipped(conversationId, skipped);
    for (const m of deliver) this.options.deliver(m, 'live');
    this.settle(conversationId, before, false);
  }

  /** One reader per conversation; a request during a read makes it read once more. */
  private async fill(conversationId: ConversationId): Promise<void> {
    if (this.filling.has(conversationId)) {
      this.again.add(conversationId);
      return;
    }
    this.filling.add(conversationId);
    try {
      do {
        this.again.delete(conversationId);
        await this.readAll(conversationId);
      } while (this.again.has(conversationId) && !this.closed);
    } catch (err) {
      this.options.onError(err);
    } finally {
      this.filling.delete(conversationId);
      this.again.delete(conversationId);
    }
  }

  private async readAll(conversationId: ConversationId): Promise<void> {
    let after = this.buffer.lastSeq(conversationId);
    while (after !== undefined && !this.closed) {
      const page = await this.options.fetchAfter(conversationId, after);
      for (const m of page.messages) this.push(m, 'history');
      const last = page.messages.at(-1);
      if (!page.hasMore || !last) return;
      after = last.seq;
    }
  }
}

import type { ConversationId, MessageId, Seq } from './protocol.js';
import { RecentSet } from './recent-set.js';

/** What the buffer needs of a message. */
export interface Sequenced {
  conversationId: ConversationId;
  id: MessageId;
  seq: Seq;
}

/** The outcome of offering a message to the buffer. */
export interface Accepted<M> {
  /** Messages to hand to the app now, in order (possibly none). */
  deliver: M[];
  /** Whether messages of this conversation are held behind a gap after the offer. */
  gap: boolean;
}

export interface OrderingBufferOptions {
  /** How many delivered message ids are remembered for dedup (default 10 000). */
  maxRememberedIds?: number;
  /** How many given-up seqs per conversation may still be delivered late (default 1000). */
  maxSkipped?: number;
}

interface ConversationState<M> {
  /** The newest seq handed to the app (or given up on); undefined until the first message. */
  lastSeq: Seq | undefined;
  held: Map<Seq, M>;
  /** Seqs given up on: if one still arrives it is delivered late, once. */
  skipped: RecentSet<Seq>;
}

/**
 * Puts the messages of each conversation in `seq` order and lets each message id through
 * once. Pure state, no timers and no I/O: the caller fills gaps and decides when to give up.
 *
 * Guarantees: within a conversation, messages are delivered in increasing `seq` with no
 * repeat; a message whose seq is behind a gap is held until the gap is filled or
 * {@link giveUp} is called; after giving up, a skipped seq that still arrives is delivered
 * (late, out of order) rather than dropped, so nothing the server sent is lost to the app.
 */
export class OrderingBuffer<M extends Sequenced> {
  private readonly conversations = new Map<ConversationId, ConversationState<M>>();
  private readonly delivered: RecentSet<MessageId>;
  private readonly maxSkipped: number;

  constructor(options: OrderingBufferOptions = {}) {
    this.delivered = new RecentSet(options.maxRememberedIds ?? 10_000);
    this.maxSkipped = options.maxSkipped ?? 1000;
  }

  /** The newest seq delivered (or skipped) in a conversation; undefined if none yet. */
  lastSeq(conversationId: ConversationId): Seq | undefined {
    return this.conversations.get(conversationId)?.lastSeq;
  }

  /** How many messages of the conversation wait behind a gap. */
  heldCount(conversationId: ConversationId): number {
    return this.conversations.get(conversationId)?.held.size ?? 0;
  }

  /**
   * Sets where a conversation starts when nothing was delivered in it yet ("start from
   * now", or a restored position). A known position is never moved: only delivery moves it.
   * `lateWindow`: the last seqs up to `seq` may still arrive live and are then delivered —
   * for a start read from the server while those messages were on their way.
   */
  baseline(conversationId: ConversationId, seq: Seq, lateWindow = 0): void {
    const state = this.state(conversationId);
    if (state.lastSeq !== undefined) return;
    state.lastSeq = seq;
    for (let s = Math.max(1, seq - lateWindow + 1); s <= seq; s++) state.skipped.add(s);
  }

  /** Offers a message; returns what can be delivered now and whether a gap is open. */
  accept(message: M): Accepted<M> {
    const state = this.state(message.conversationId);
    const deliver: M[] = [];
    if (this.delivered.has(message.id)) return { deliver, gap: state.held.size > 0 };
    if (state.lastSeq === undefined || message.seq === state.lastSeq + 1) {
      this.take(state, message, deliver);
      this.drain(state, deliver);
    } else if (message.seq <= state.lastSeq) {
      if (state.skipped.delete(message.seq)) this.take(state, message, deliver, false);
    } else if (!state.held.has(message.seq)) {
      state.held.set(message.seq, message);
    }
    return { deliver, gap: state.held.size > 0 };
  }

  /**
   * Stops waiting for the missing seqs of a conversation: delivers every held message in
   * order and returns it with the seqs that were skipped.
   */
  giveUp(conversationId: ConversationId): { deliver: M[]; skipped: Seq[] } {
    const state = this.conversations.get(conversationId);
    const deliver: M[] = [];
    const skipped: Seq[] = [];
    if (!state) return { deliver, skipped };
    for (const seq of [...state.held.keys()].sort((a, b) => a - b)) {
      const message = state.held.get(seq)!;
      state.held.delete(seq);
      for (let s = (state.lastSeq ?? seq - 1) + 1; s < seq; s++) {
        skipped.push(s);
        state.skipped.add(s);
      }
      this.take(state, message, deliver);
    }
    return { deliver, skipped };
  }

  /** The newest seq per conversation, to persist. */
  positions(): Record<ConversationId, Seq> {
    const out: Record<ConversationId, Seq> = {};
    for (const [id, state] of this.conversations) if (state.lastSeq !== undefined) out[id] = state.lastSeq;
    return out;
  }

  private take(state: ConversationState<M>, message: M, deliver: M[], advance = true): void {
    this.delivered.add(message.id);
    deliver.push(message);
    if (advance) state.lastSeq = Math.max(state.lastSeq ?? message.seq, message.seq);
  }

  private drain(state: ConversationState<M>, deliver: M[]): void {
    for (let next = state.held.get(state.lastSeq! + 1); next; next = state.held.get(state.lastSeq! + 1)) {
      state.held.delete(next.seq);
      if (this.delivered.has(next.id)) state.lastSeq = next.seq;
      else this.take(state, next, deliver);
    }
  }

  private state(conversationId: ConversationId): ConversationState<M> {
    let state = this.conversations.get(conversationId);
    if (!state) {
      state = { lastSeq: undefined, held: new Map(), skipped: new RecentSet(this.maxSkipped) };
      this.conversations.set(conversationId, state);
    }
    return state;
  }
}

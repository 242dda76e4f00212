import type { ConversationId, Seq, TenantId } from '../../domain/ids.js';
import type { Message } from '../../domain/model.js';
import type { MessageSequencer } from '../../ports/message-sequencer.js';
import type { NewMessage } from '../../ports/message-store.js';

export interface MemoryMessageSequencerOptions {
  /** How long a (conversation, sender, clientMessageId) is remembered after its message is stored (default 7 days). */
  dedupWindowMs: number;
}

const DEFAULTS: MemoryMessageSequencerOptions = { dedupWindowMs: 7 * 24 * 3600 * 1000 };
/** How often remembered messages past the window are dropped at most. */
const PRUNE_EVERY_MS = 10_000;

interface Accepted {
  message: Message;
  acceptedAt: number;
  stored: boolean;
}

interface ConversationState {
  lastSeq: Seq;
  /** Accepted and not stored yet, by seq; seqs are assigned ascending, so insertion order is seq order. */
  tail: Map<Seq, Accepted>;
}

/**
 * The sequencer of a single process. A message is remembered for dedup until it is stored
 * and the window has passed since it was accepted (so also while it is in the tail), as
 * the SQLite sequencer does.
 */
export class MemoryMessageSequencer implements MessageSequencer {
  readonly storesOnAccept = false;
  private readonly options: MemoryMessageSequencerOptions;
  private readonly conversations = new Map<string, ConversationState>();
  private readonly accepted = new Map<string, Accepted>();
  private lastPrune = 0;

  constructor(options: Partial<MemoryMessageSequencerOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
  }

  async accept(m: NewMessage): Promise<{ message: Message; duplicate: boolean }> {
    const now = Date.now();
    this.prune(now);
    // Ids cannot contain '/', so the key names one (tenant, conversation, sender, client id).
    const key = `${m.tenantId}/${m.conversationId}/${m.senderId}/${m.clientMessageId}`;
    const seen = this.accepted.get(key);
    if (seen && (!seen.stored || seen.acceptedAt > now - this.options.dedupWindowMs)) return { message: structuredClone(seen.message), duplicate: true };
    const conversation = this.conversation(m.tenantId, m.conversationId);
    const message: Message = { ...structuredClone(m), seq: ++conversation.lastSeq, editedAt: null, deletedAt: null, reactions: [] };
    const entry: Accepted = { message, acceptedAt: now, stored: false };
    // Deleted first so that the map stays in acceptance order (prune relies on it).
    this.accepted.delete(key);
    this.accepted.set(key, entry);
    conversation.tail.set(message.seq, entry);
    return { message: structuredClone(message), duplicate: false };
  }

  async recent(t: TenantId, c: ConversationId): Promise<Message[]> {
    const tail = this.conversations.get(`${t}/${c}`)?.tail;
    return tail ? [...tail.values()].map((a) => structuredClone(a.message)) : [];
  }

  async lastSeqs(t: TenantId, conversationIds: readonly ConversationId[]): Promise<Map<ConversationId, Seq>> {
    return new Map(conversationIds.map((c) => [c, this.conversations.get(`${t}/${c}`)?.lastSeq ?? 0]));
  }

  async stored(messages: readonly Message[]): Promise<void> {
    for (const m of messages) {
      const tail = this.conversations.get(`${m.tenantId}/${m.conversationId}`)?.tail;
      const entry = tail?.get(m.seq);
      if (!entry) continue;
      entry.stored = true;
      tail!.delete(m.seq);
    }
  }

  private conversation(t: TenantId, c: ConversationId): ConversationState {
    const k = `${t}/${c}`;
    let state = this.conversations.get(k);
    if (!state) {
      state = { lastSeq: 0, tail: new Map() };
      this.conversations.set(k, state);
    }
    return state;
  }

  private prune(now: number): void {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    const before = now - this.options.dedupWindowMs;
    // Oldest first: stop at the first one inside the window instead of visiting them all.
    for (const [key, a] of this.accepted) {
      if (a.acceptedAt > before) break;
      if (a.stored) this.accepted.delete(key);
    }
  }
}

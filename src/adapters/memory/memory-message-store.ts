import type { ConversationId, MessageId, Seq, TenantId, UserId } from '../../domain/ids.js';
import type { Message, Metadata, ReadCursor } from '../../domain/model.js';
import type { HistoryQuery, MessageStore } from '../../ports/message-store.js';
import { applyReaction } from './reactions.js';

interface ConversationLog {
  /** Ascending by seq; seqs may have gaps (a message not stored yet, or never). */
  messages: Message[];
  byId: Map<MessageId, Message>;
  /** Sender and client message id, the other key a message is unique by. */
  byClientId: Set<string>;
  cursors: Map<UserId, ReadCursor>;
}

const copy = (m: Message): Message => ({ ...m, metadata: { ...m.metadata }, reactions: m.reactions.map((r) => ({ ...r, userIds: [...r.userIds] })) });
const clientKey = (m: Message): string => `${m.senderId}\u0000${m.clientMessageId}`;

/** Index of the first message whose seq is at least `seq`. */
function firstAtOrAfter(messages: Message[], seq: Seq): number {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (messages[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** In-memory messages: one seq-ordered array per conversation. */
export class MemoryMessageStore implements MessageStore {
  private readonly logs = new Map<string, ConversationLog>();

  private log(t: TenantId, c: ConversationId): ConversationLog {
    const k = `${t}/${c}`;
    let log = this.logs.get(k);
    if (!log) {
      log = { messages: [], byId: new Map(), byClientId: new Set(), cursors: new Map() };
      this.logs.set(k, log);
    }
    return log;
  }

  /** Like the SQL stores, a message is new only if its seq, id and client id are all unused; reactions come through `react` only. */
  async insert(messages: readonly Message[]): Promise<number> {
    let inserted = 0;
    for (const m of messages) {
      const log = this.log(m.tenantId, m.conversationId);
      const at = firstAtOrAfter(log.messages, m.seq);
      if (log.messages[at]?.seq === m.seq || log.byId.has(m.id) || log.byClientId.has(clientKey(m))) continue;
      const stored = { ...copy(m), reactions: [] };
      log.messages.splice(at, 0, stored);
      log.byId.set(stored.id, stored);
      log.byClientId.add(clientKey(stored));
      inserted++;
    }
    return inserted;
  }

  async get(t: TenantId, c: ConversationId, id: MessageId): Promise<Message | null> {
    const m = this.log(t, c).byId.get(id);
    return m ? copy(m) : null;
  }

  async edit(t: TenantId, c: ConversationId, id: MessageId, content: string, metadata: Metadata | undefined, at: string): Promise<Message | null> {
    const m = this.log(t, c).byId.get(id);
    if (!m) return null;
    m.content = content;
    if (metadata !== undefined) m.metadata = { ...metadata };
    m.editedAt = at;
    return copy(m);
  }

  async markDeleted(t: TenantId, c: ConversationId, id: MessageId, at: string): Promise<Message | null> {
    const m = this.log(t, c).byId.get(id);
    if (!m) return null;
    Object.assign(m, { content: '', metadata: {}, attachment: null, reactions: [], deletedAt: m.deletedAt ?? at });
    return copy(m);
  }

  async react(t: TenantId, c: ConversationId, id: MessageId, userId: UserId, emoji: string, op: 'add' | 'remove'): Promise<Message | null> {
    const m = this.log(t, c).byId.get(id);
    if (!m) return null;
    m.reactions = applyReaction(m.reactions, userId, emoji, op);
    return copy(m);
  }

  async page(t: TenantId, c: ConversationId, q: HistoryQuery): Promise<Message[]> {
    const all = this.log(t, c).messages;
    if (q.after !== undefined) {
      const start = firstAtOrAfter(all, q.after + 1);
      return all.slice(start, start + q.limit).map(copy);
    }
    const end = q.before === undefined ? all.length : firstAtOrAfter(all, q.before);
    return all.slice(Math.max(0, end - q.limit), end).map(copy);
  }

  async sendersBetween(t: TenantId, c: ConversationId, fromSeq: Seq, toSeq: Seq): Promise<UserId[]> {
    const all = this.log(t, c).messages;
    return [...new Set(all.slice(firstAtOrAfter(all, fromSeq + 1), firstAtOrAfter(all, toSeq + 1)).map((m) => m.senderId))];
  }

  async advanceReadCursor(t: TenantId, c: ConversationId, userId: UserId, seq: Seq, at: string): Promise<{ previous: Seq; current: Seq }> {
    const cursors = this.log(t, c).cursors;
    const previous = cursors.get(userId)?.seq ?? 0;
    if (seq > previous) cursors.set(userId, { userId, seq, updatedAt: at });
    return { previous, current: Math.max(previous, seq) };
  }

  async readCursors(t: TenantId, c: ConversationId): Promise<ReadCursor[]> {
    return [...this.log(t, c).cursors.values()].map((r) => ({ ...r }));
  }
}

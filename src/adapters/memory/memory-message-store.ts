import type { ConversationId, MessageId, Seq, TenantId, UserId } from '../../domain/ids.js';
import type { Message, Metadata, ReadCursor } from '../../domain/model.js';
import type { HistoryQuery, MessageStore, NewMessage } from '../../ports/message-store.js';
import { applyReaction } from './reactions.js';

interface ConversationLog {
  messages: Message[];
  byId: Map<MessageId, Message>;
  byClientId: Map<string, Message>;
  cursors: Map<UserId, ReadCursor>;
}

const copy = (m: Message): Message => ({ ...m, metadata: { ...m.metadata }, reactions: m.reactions.map((r) => ({ ...r, userIds: [...r.userIds] })) });

/** In-memory messages: one array per conversation, index = seq - 1. */
export class MemoryMessageStore implements MessageStore {
  private readonly logs = new Map<string, ConversationLog>();

  private log(t: TenantId, c: ConversationId): ConversationLog {
    const k = `${t}/${c}`;
    let log = this.logs.get(k);
    if (!log) {
      log = { messages: [], byId: new Map(), byClientId: new Map(), cursors: new Map() };
      this.logs.set(k, log);
    }
    return log;
  }

  async append(n: NewMessage): Promise<{ message: Message; duplicate: boolean }> {
    const log = this.log(n.tenantId, n.conversationId);
    const dedupKey = `${n.senderId}\u0000${n.clientMessageId}`;
    const first = log.byClientId.get(dedupKey);
    if (first) return { message: copy(first), duplicate: true };
    const message: Message = { ...n, seq: log.messages.length + 1, editedAt: null, deletedAt: null, reactions: [] };
    log.messages.push(message);
    log.byId.set(message.id, message);
    log.byClientId.set(dedupKey, message);
    return { message: copy(message), duplicate: false };
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
    if (q.after !== undefined) return all.slice(q.after, q.after + q.limit).map(copy);
    const end = q.before === undefined ? all.length : Math.min(Math.max(q.before - 1, 0), all.length);
    return all.slice(Math.max(0, end - q.limit), end).map(copy);
  }

  async lastSeqs(t: TenantId, ids: ConversationId[]): Promise<Map<ConversationId, Seq>> {
    return new Map(ids.map((id) => [id, this.logs.get(`${t}/${id}`)?.messages.length ?? 0]));
  }

  async sendersBetween(t: TenantId, c: ConversationId, fromSeq: Seq, toSeq: Seq): Promise<UserId[]> {
    return [...new Set(this.log(t, c).messages.slice(fromSeq, toSeq).map((m) => m.senderId))];
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

import { asConversationId, asMessageId, asUserId, type ConversationId, type MessageId, type Seq, type TenantId, type UserId } from '../../domain/ids.js';
import type { Message, MessageType, Metadata, Reaction, ReadCursor } from '../../domain/model.js';
import type { HistoryQuery, MessageStore } from '../../ports/message-store.js';
import type { SqliteDatabase } from './sqlite-database.js';
import { sqliteWriter, type SqliteWriter } from './sqlite-writer.js';

interface MessageRow {
  tenant_id: string;
  conversation_id: string;
  seq: number;
  id: string;
  sender_id: string;
  client_message_id: string;
  type: MessageType;
  content: string;
  metadata: string;
  attachment: Buffer | null;
  reply_to: string | null;
  created_at: string;
  edited_at: string | null;
  deleted_at: string | null;
}

interface ReactionRow {
  message_id: string;
  user_id: string;
  emoji: string;
}

/** Messages, reactions and read cursors in SQLite. */
export class SqliteMessageStore implements MessageStore {
  private readonly q;
  private readonly writer: SqliteWriter;

  constructor(db: SqliteDatabase) {
    this.writer = sqliteWriter(db);
    this.q = {
      // No conflict target: a repeat of the seq, the id or the client message id is "already stored".
      insert: db.prepare(
        `INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_id, client_message_id, type, content, metadata, attachment, reply_to, created_at, edited_at, deleted_at)
         VALUES (@tenantId, @conversationId, @seq, @id, @senderId, @clientMessageId, @type, @content, @metadata, @attachment, @replyTo, @createdAt, @editedAt, @deletedAt)
         ON CONFLICT DO NOTHING`,
      ),
      get: db.prepare<[string, string, string], MessageRow>('SELECT * FROM messages WHERE tenant_id = ? AND conversation_id = ? AND id = ?'),
      sent: db.prepare<[string, string, string, string], MessageRow>(
        'SELECT * FROM messages WHERE tenant_id = ? AND conversation_id = ? AND sender_id = ? AND client_message_id = ?',
      ),
      edit: db.prepare('UPDATE messages SET content = ?, metadata = coalesce(?, metadata), edited_at = ? WHERE tenant_id = ? AND conversation_id = ? AND id = ?'),
      del: db.prepare(
        `UPDATE messages SET content = '', metadata = '{}', attachment = NULL, deleted_at = coalesce(deleted_at, ?)
         WHERE tenant_id = ? AND conversation_id = ? AND id = ?`,
      ),
      delReactions: db.prepare('DELETE FROM reactions WHERE tenant_id = ? AND conversation_id = ? AND message_id = ?'),
      addReaction: db.prepare('INSERT INTO reactions (tenant_id, conversation_id, message_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      removeReaction: db.prepare('DELETE FROM reactions WHERE tenant_id = ? AND conversation_id = ? AND message_id = ? AND user_id = ? AND emoji = ?'),
      reactionsOf: db.prepare<[string, string, string], ReactionRow>(
        'SELECT message_id, user_id, emoji FROM reactions WHERE tenant_id = ? AND conversation_id = ? AND message_id = ? ORDER BY created_at, rowid',
      ),
      reactionsRange: db.prepare<[string, string, number, number], ReactionRow>(
        `SELECT r.message_id, r.user_id, r.emoji FROM reactions r JOIN messages m
           ON m.tenant_id = r.tenant_id AND m.conversation_id = r.conversation_id AND m.id = r.message_id
         WHERE r.tenant_id = ? AND r.conversation_id = ? AND m.seq BETWEEN ? AND ? ORDER BY r.created_at, r.rowid`,
      ),
      after: db.prepare<[string, string, number, number], MessageRow>(
        'SELECT * FROM messages WHERE tenant_id = ? AND conversation_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?',
      ),
      before: db.prepare<[string, string, number, number], MessageRow>(
        'SELECT * FROM messages WHERE tenant_id = ? AND conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
      ),
      senders: db.prepare<[string, string, number, number], { sender_id: string }>(
        'SELECT DISTINCT sender_id FROM messages WHERE tenant_id = ? AND conversation_id = ? AND seq > ? AND seq <= ?',
      ),
      cursor: db.prepare<[string, string, string], { seq: number }>('SELECT seq FROM read_cursors WHERE tenant_id = ? AND conversation_id = ? AND user_id = ?'),
      upsertCursor: db.prepare(
        `INSERT INTO read_cursors (tenant_id, conversation_id, user_id, seq, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, conversation_id, user_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at WHERE excluded.seq > seq`,
      ),
      cursors: db.prepare<[string, string], { user_id: string; seq: number; updated_at: string }>(
        'SELECT user_id, seq, updated_at FROM read_cursors WHERE tenant_id = ? AND conversation_id = ? ORDER BY user_id',
      ),
    };
  }

  /**
   * Group-committed with the other writes of the turn (`SqliteWriter`): one WAL write for
   * them all. Resolves once committed. Reactions come through `react` only.
   */
  insert(messages: readonly Message[]): Promise<number> {
    return this.writer.write(() => this.insertAll(messages));
  }

  private insertAll(messages: readonly Message[]): number {
    let inserted = 0;
    for (const m of messages) if (this.insertNow(m)) inserted++;
    return inserted;
  }

  /**
   * Inserts one message in the caller's transaction (the journal's accept); false if a
   * message of its seq, id or (sender, client message id) is stored already.
   */
  insertNow(m: Message): boolean {
    const params = { ...m, metadata: JSON.stringify(m.metadata), attachment: m.attachment ? Buffer.from(m.attachment) : null };
    return this.q.insert.run(params).changes === 1;
  }

  /** The stored message its sender sent with this client message id, in the caller's transaction. */
  sentNow(t: TenantId, c: ConversationId, senderId: UserId, clientMessageId: string): Message | null {
    const row = this.q.sent.get(t, c, senderId, clientMessageId);
    return row ? this.withReactions(row) : null;
  }

  async get(t: TenantId, c: ConversationId, id: MessageId): Promise<Message | null> {
    const row = this.q.get.get(t, c, id);
    return row ? this.withReactions(row) : null;
  }

  async edit(t: TenantId, c: ConversationId, id: MessageId, content: string, metadata: Metadata | undefined, at: string): Promise<Message | null> {
    await this.writer.write(() => this.q.edit.run(content, metadata === undefined ? null : JSON.stringify(metadata), at, t, c, id));
    return this.get(t, c, id);
  }

  async markDeleted(t: TenantId, c: ConversationId, id: MessageId, at: string): Promise<Message | null> {
    await this.writer.write(() => {
      this.q.del.run(at, t, c, id);
      this.q.delReactions.run(t, c, id);
    });
    return this.get(t, c, id);
  }

  async react(t: TenantId, c: ConversationId, id: MessageId, userId: UserId, emoji: string, op: 'add' | 'remove', at: string): Promise<Message | null> {
    await this.writer.write(() => (op === 'add' ? this.q.addReaction.run(t, c, id, userId, emoji, at) : this.q.removeReaction.run(t, c, id, userId, emoji)));
    return this.get(t, c, id);
  }

  async page(t: TenantId, c: ConversationId, q: HistoryQuery): Promise<Message[]> {
    const rows = q.after !== undefined
      ? this.q.after.all(t, c, q.after, q.limit)
      : this.q.before.all(t, c, q.before ?? Number.MAX_SAFE_INTEGER, q.limit).reverse();
    if (rows.length === 0) return [];
    const reactions = groupReactions(this.q.reactionsRange.all(t, c, rows[0]!.seq, rows[rows.length - 1]!.seq));
    return rows.map((r) => toMessage(r, reactions.get(r.id) ?? []));
  }

  async sendersBetween(t: TenantId, c: ConversationId, fromSeq: Seq, toSeq: Seq): Promise<UserId[]> {
    return this.q.senders.all(t, c, fromSeq, toSeq).map((r) => asUserId(r.sender_id));
  }

  async advanceReadCursor(t: TenantId, c: ConversationId, userId: UserId, seq: Seq, at: string): Promise<{ previous: Seq; current: Seq }> {
    return this.writer.write(() => {
      const previous = this.q.cursor.get(t, c, userId)?.seq ?? 0;
      if (seq > previous) this.q.upsertCursor.run(t, c, userId, seq, at);
      return { previous, current: Math.max(previous, seq) };
    });
  }

  async readCursors(t: TenantId, c: ConversationId): Promise<ReadCursor[]> {
    return this.q.cursors.all(t, c).map((r) => ({ userId: asUserId(r.user_id), seq: r.seq, updatedAt: r.updated_at }));
  }

  private withReactions(row: MessageRow): Message {
    const reactions = groupReactions(this.q.reactionsOf.all(row.tenant_id, row.conversation_id, row.id));
    return toMessage(row, reactions.get(row.id) ?? []);
  }
}

function groupReactions(rows: ReactionRow[]): Map<string, Reaction[]> {
  const out = new Map<string, Reaction[]>();
  for (const r of rows) {
    const list = out.get(r.message_id) ?? [];
    const entry = list.find((x) => x.emoji === r.emoji);
    if (entry) entry.userIds.push(asUserId(r.user_id));
    else list.push({ emoji: r.emoji, userIds: [asUserId(r.user_id)] });
    out.set(r.message_id, list);
  }
  return out;
}

function toMessage(r: MessageRow, reactions: Reaction[]): Message {
  return {
    tenantId: r.tenant_id as TenantId,
    conversationId: asConversationId(r.conversation_id),
    id: asMessageId(r.id),
    seq: r.seq,
    senderId: asUserId(r.sender_id),
    clientMessageId: r.client_message_id,
    type: r.type,
    content: r.content,
    metadata: JSON.parse(r.metadata) as Metadata,
    attachment: r.attachment ? new Uint8Array(r.attachment) : null,
    replyTo: r.reply_to === null ? null : asMessageId(r.reply_to),
    createdAt: r.created_at,
    editedAt: r.edited_at,
    deletedAt: r.deleted_at,
    reactions,
  };
}

import { asConversationId, asMessageId, asTenantId, asUserId, type ConversationId, type MessageId, type Seq, type TenantId, type UserId } from '../../domain/ids.js';
import type { Message, MessageType, Metadata, Reaction, ReadCursor } from '../../domain/model.js';
import type { HistoryQuery, MessageStore } from '../../ports/message-store.js';
import { inTransaction, type PostgresPool } from './postgres-database.js';

interface MessageRow {
  tenant_id: string;
  conversation_id: string;
  /** bigint: the driver reads it as a string. */
  seq: string;
  id: string;
  sender_id: string;
  client_message_id: string;
  type: MessageType;
  content: string;
  metadata: Metadata;
  attachment: Buffer | null;
  reply_to: string | null;
  created_at: Date;
  edited_at: Date | null;
  deleted_at: Date | null;
  /** [emoji, user id] in the order the reactions were made. */
  reactions: [string, string][];
}

const INSERT_COLUMNS = [
  'tenant_id', 'conversation_id', 'seq', 'id', 'sender_id', 'client_message_id', 'type',
  'content', 'metadata', 'attachment', 'reply_to', 'created_at', 'edited_at', 'deleted_at',
] as const;

/** Rows per INSERT statement: PostgreSQL takes at most 65,535 parameters per statement. */
const ROWS_PER_STATEMENT = 1000;

/** A message row of `m` with its reactions aggregated, in one query. */
const WITH_REACTIONS = `m.*, coalesce((
  SELECT json_agg(json_build_array(r.emoji, r.user_id) ORDER BY r.created_at, r.position) FROM reactions r
  WHERE r.tenant_id = m.tenant_id AND r.conversation_id = m.conversation_id AND r.message_id = m.id), '[]') AS reactions`;

/** Messages, reactions and read cursors in PostgreSQL. */
export class PostgresMessageStore implements MessageStore {
  constructor(private readonly pool: PostgresPool) {}

  /**
   * Multi-row inserts, one transaction for the whole call. No conflict target: a repeat of
   * the seq, the id or the client message id is "already stored" and leaves the row as it
   * is. Reactions come through `react` only.
   */
  async insert(messages: readonly Message[]): Promise<number> {
    if (messages.length === 0) return 0;
    if (messages.length <= ROWS_PER_STATEMENT) return this.insertRows(this.pool, messages);
    return inTransaction(this.pool, async (client) => {
      let inserted = 0;
      for (let i = 0; i < messages.length; i += ROWS_PER_STATEMENT) inserted += await this.insertRows(client, messages.slice(i, i + ROWS_PER_STATEMENT));
      return inserted;
    });
  }

  private async insertRows(db: Pick<PostgresPool, 'query'>, messages: readonly Message[]): Promise<number> {
    const n = INSERT_COLUMNS.length;
    const values = messages.map((_, row) => `(${INSERT_COLUMNS.map((_, col) => `$${row * n + col + 1}`).join(', ')})`);
    const params = messages.flatMap((m) => [
      m.tenantId, m.conversationId, m.seq, m.id, m.senderId, m.clientMessageId, m.type,
      m.content, JSON.stringify(m.metadata), m.attachment ? Buffer.from(m.attachment) : null, m.replyTo, m.createdAt, m.editedAt, m.deletedAt,
    ]);
    const result = await db.query(`INSERT INTO messages (${INSERT_COLUMNS.join(', ')}) VALUES ${values.join(', ')} ON CONFLICT DO NOTHING`, params);
    return result.rowCount ?? 0;
  }

  async get(t: TenantId, c: ConversationId, id: MessageId): Promise<Message | null> {
    const { rows } = await this.pool.query<MessageRow>(`SELECT ${WITH_REACTIONS} FROM messages m WHERE m.tenant_id = $1 AND m.conversation_id = $2 AND m.id = $3`, [t, c, id]);
    return rows[0] ? toMessage(rows[0]) : null;
  }

  async edit(t: TenantId, c: ConversationId, id: MessageId, content: string, metadata: Metadata | undefined, at: string): Promise<Message | null> {
    const { rows } = await this.pool.query<MessageRow>(
      `WITH m AS (
         UPDATE messages SET content = $4, metadata = coalesce($5::jsonb, metadata), edited_at = $6
         WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3 RETURNING *)
       SELECT ${WITH_REACTIONS} FROM m`,
      [t, c, id, content, metadata === undefined ? null : JSON.stringify(metadata), at],
    );
    return rows[0] ? toMessage(rows[0]) : null;
  }

  async markDeleted(t: TenantId, c: ConversationId, id: MessageId, at: string): Promise<Message | null> {
    // One statement: the reactions go with the content, atomically.
    const { rows } = await this.pool.query<MessageRow>(
      `WITH gone AS (DELETE FROM reactions WHERE tenant_id = $1 AND conversation_id = $2 AND message_id = $3),
       m AS (
         UPDATE messages SET content = '', metadata = '{}', attachment = NULL, deleted_at = coalesce(deleted_at, $4)
         WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3 RETURNING *)
       SELECT m.*, '[]'::json AS reactions FROM m`,
      [t, c, id, at],
    );
    return rows[0] ? toMessage(rows[0]) : null;
  }

  async react(t: TenantId, c: ConversationId, id: MessageId, userId: UserId, emoji: string, op: 'add' | 'remove', at: string): Promise<Message | null> {
    if (op === 'add') {
      await this.pool.query(
        `INSERT INTO reactions (tenant_id, conversation_id, message_id, user_id, emoji, created_at)
         SELECT tenant_id, conversation_id, id, $4, $5, $6 FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3
         ON CONFLICT DO NOTHING`,
        [t, c, id, userId, emoji, at],
      );
    } else {
      await this.pool.query('DELETE FROM reactions WHERE tenant_id = $1 AND conversation_id = $2 AND message_id = $3 AND user_id = $4 AND emoji = $5', [t, c, id, userId, emoji]);
    }
    return this.get(t, c, id);
  }

  async page(t: TenantId, c: ConversationId, q: HistoryQuery): Promise<Message[]> {
    const { rows } = q.after !== undefined
      ? await this.pool.query<MessageRow>(
        `SELECT ${WITH_REACTIONS} FROM messages m WHERE m.tenant_id = $1 AND m.conversation_id = $2 AND m.seq > $3 ORDER BY m.seq LIMIT $4`,
        [t, c, q.after, q.limit],
      )
      : await this.pool.query<MessageRow>(
        `SELECT * FROM (
           SELECT ${WITH_REACTIONS} FROM messages m WHERE m.tenant_id = $1 AND m.conversation_id = $2 AND m.seq < $3 ORDER BY m.seq DESC LIMIT $4
         ) newest ORDER BY seq`,
        [t, c, q.before ?? Number.MAX_SAFE_INTEGER, q.limit],
      );
    return rows.map(toMessage);
  }

  async sendersBetween(t: TenantId, c: ConversationId, fromSeq: Seq, toSeq: Seq): Promise<UserId[]> {
    const { rows } = await this.pool.query<{ sender_id: string }>(
      'SELECT DISTINCT sender_id FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND seq > $3 AND seq <= $4',
      [t, c, fromSeq, toSeq],
    );
    return rows.map((r) => asUserId(r.sender_id));
  }

  async advanceReadCursor(t: TenantId, c: ConversationId, userId: UserId, seq: Seq, at: string): Promise<{ previous: Seq; current: Seq }> {
    const key = [t, c, userId];
    return inTransaction(this.pool, async (client) => {
      // The row lock makes `previous` exact when the same cursor moves concurrently.
      for (;;) {
        const { rows } = await client.query<{ seq: string }>('SELECT seq FROM read_cursors WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = $3 FOR UPDATE', key);
        const previous = rows[0] ? Number(rows[0].seq) : 0;
        if (seq <= previous) return { previous, current: previous };
        const written = rows[0]
          ? await client.query('UPDATE read_cursors SET seq = $4, updated_at = $5 WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = $3', [...key, seq, at])
          : await client.query('INSERT INTO read_cursors (tenant_id, conversation_id, user_id, seq, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [...key, seq, at]);
        if (written.rowCount === 1) return { previous, current: seq };
        // Another first move of this cursor inserted it meanwhile: lock that row and decide again.
      }
    });
  }

  async readCursors(t: TenantId, c: ConversationId): Promise<ReadCursor[]> {
    const { rows } = await this.pool.query<{ user_id: string; seq: string; updated_at: Date }>(
      'SELECT user_id, seq, updated_at FROM read_cursors WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY user_id COLLATE "C"',
      [t, c],
    );
    return rows.map((r) => ({ userId: asUserId(r.user_id), seq: Number(r.seq), updatedAt: r.updated_at.toISOString() }));
  }
}

function groupReactions(pairs: [string, string][]): Reaction[] {
  const out: Reaction[] = [];
  for (const [emoji, userId] of pairs) {
    const entry = out.find((r) => r.emoji === emoji);
    if (entry) entry.userIds.push(asUserId(userId));
    else out.push({ emoji, userIds: [asUserId(userId)] });
  }
  return out;
}

function toMessage(r: MessageRow): Message {
  return {
    tenantId: asTenantId(r.tenant_id),
    conversationId: asConversationId(r.conversation_id),
    id: asMessageId(r.id),
    seq: Number(r.seq),
    senderId: asUserId(r.sender_id),
    clientMessageId: r.client_message_id,
    type: r.type,
    content: r.content,
    metadata: r.metadata,
    attachment: r.attachment ? new Uint8Array(r.attachment) : null,
    replyTo: r.reply_to === null ? null : asMessageId(r.reply_to),
    createdAt: r.created_at.toISOString(),
    editedAt: r.edited_at?.toISOString() ?? null,
    deletedAt: r.deleted_at?.toISOString() ?? null,
    reactions: groupReactions(r.reactions),
  };
}

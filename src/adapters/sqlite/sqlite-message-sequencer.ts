import type { ConversationId, Seq, TenantId } from '../../domain/ids.js';
import type { Message } from '../../domain/model.js';
import type { MessageSequencer } from '../../ports/message-sequencer.js';
import type { NewMessage } from '../../ports/message-store.js';
import { decodeMessageRecord, encodeMessageRecord } from '../codec/message-record.js';
import type { SqliteDatabase } from './sqlite-database.js';
import { SqliteSequences } from './sqlite-sequences.js';
import { sqliteWriter, type SqliteWriter } from './sqlite-writer.js';

export interface SqliteMessageSequencerOptions {
  /** How long a (conversation, sender, clientMessageId) is remembered after its message is stored (default 7 days). */
  dedupWindowMs: number;
}

const DEFAULTS: SqliteMessageSequencerOptions = { dedupWindowMs: 7 * 24 * 3600 * 1000 };
/** How often rows past the dedup window are deleted at most, and how many at a time. */
const PRUNE_EVERY_MS = 10_000;
const PRUNE_BATCH = 1_000;

interface AcceptedRow {
  message: Buffer;
  accepted_at: number;
  stored: number;
}

/**
 * The sequencer in SQLite: `sequences` holds each conversation's last seq, `accepted` one
 * row per accepted message, which is both its dedup key and, while `stored = 0`, its place
 * in the tail. Each accept is atomic in an IMMEDIATE transaction (group-committed with the
 * turn's other writes, `SqliteWriter`), so processes sharing the file never hand out a seq twice.
 *
 * Since the dedup row and the tail row are one, a message is remembered for dedup until it
 * is stored and the window has passed since it was accepted.
 */
export class SqliteMessageSequencer implements MessageSequencer {
  readonly storesOnAccept = false;
  private readonly options: SqliteMessageSequencerOptions;
  private readonly q;
  private readonly writer: SqliteWriter;
  private readonly sequences: SqliteSequences;
  private lastPrune = 0;

  constructor(
    db: SqliteDatabase,
    options: Partial<SqliteMessageSequencerOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.writer = sqliteWriter(db);
    this.sequences = new SqliteSequences(db);
    this.q = {
      find: db.prepare<[string, string, string, string], AcceptedRow>(
        'SELECT message, accepted_at, stored FROM accepted WHERE tenant_id = ? AND conversation_id = ? AND sender_id = ? AND client_message_id = ?',
      ),
      forget: db.prepare<[string, string, string, string]>('DELETE FROM accepted WHERE tenant_id = ? AND conversation_id = ? AND sender_id = ? AND client_message_id = ?'),
      insert: db.prepare<[string, string, string, string, number, Uint8Array, number]>(
        'INSERT INTO accepted (tenant_id, conversation_id, sender_id, client_message_id, seq, message, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      tail: db.prepare<[string, string], { message: Buffer }>('SELECT message FROM accepted WHERE tenant_id = ? AND conversation_id = ? AND stored = 0 ORDER BY seq'),
      stored: db.prepare<[string, string, number]>('UPDATE accepted SET stored = 1 WHERE tenant_id = ? AND conversation_id = ? AND seq = ? AND stored = 0'),
      prune: db.prepare<[number, number]>('DELETE FROM accepted WHERE rowid IN (SELECT rowid FROM accepted WHERE accepted_at <= ? AND stored = 1 LIMIT ?)'),
    };
  }

  async accept(m: NewMessage): Promise<{ message: Message; duplicate: boolean }> {
    const now = Date.now();
    const before = now - this.options.dedupWindowMs;
    const prune = now - this.lastPrune >= PRUNE_EVERY_MS;
    if (prune) this.lastPrune = now;
    return this.writer.write(() => {
        if (prune) this.q.prune.run(before, PRUNE_BATCH);
        const seen = this.q.find.get(m.tenantId, m.conversationId, m.senderId, m.clientMessageId);
        if (seen && (seen.stored === 0 || seen.accepted_at > before)) return { message: decode(seen.message), duplicate: true };
        // Past the window and stored: the key is free again.
        if (seen) this.q.forget.run(m.tenantId, m.conversationId, m.senderId, m.clientMessageId);
        const seq = this.sequences.next(m.tenantId, m.conversationId);
        const message: Message = { ...m, seq, editedAt: null, deletedAt: null, reactions: [] };
        this.q.insert.run(m.tenantId, m.conversationId, m.senderId, m.clientMessageId, seq, encodeMessageRecord(message), now);
        return { message, duplicate: false };
      });
  }

  async recent(t: TenantId, c: ConversationId): Promise<Message[]> {
    return this.q.tail.all(t, c).map((r) => decode(r.message));
  }

  async lastSeqs(t: TenantId, conversationIds: readonly ConversationId[]): Promise<Map<ConversationId, Seq>> {
    return this.sequences.last(t, conversationIds);
  }

  async stored(messages: readonly Message[]): Promise<void> {
    if (messages.length === 0) return;
    await this.writer.write(() => {
      for (const m of messages) this.q.stored.run(m.tenantId, m.conversationId, m.seq);
    });
  }
}

function decode(raw: Buffer): Message {
  const decoded = decodeMessageRecord(new Uint8Array(raw));
  if (!decoded.message) throw new Error(`An accepted message cannot be read: ${decoded.error}`);
  return decoded.message;
}

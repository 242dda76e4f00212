import type { ConversationId, Seq, TenantId } from '../../domain/ids.js';
import type { Message } from '../../domain/model.js';
import type { Logger } from '../../ports/logger.js';
import type { MessageSequencer } from '../../ports/message-sequencer.js';
import type { NewMessage } from '../../ports/message-store.js';
import { decodeMessageRecord } from '../codec/message-record.js';
import type { SqliteDatabase } from './sqlite-database.js';
import type { SqliteMessageStore } from './sqlite-message-store.js';
import { SqliteSequences } from './sqlite-sequences.js';
import { sqliteWriter, type SqliteWriter } from './sqlite-writer.js';

/** Rows of the log-and-processor path's tables each accept deletes, until none are left. */
const OLD_ROWS_PER_ACCEPT = 8;

/**
 * The embedded journal (docs/decisions/005): when the durable log and the store are the same
 * SQLite file, a message's one durable record is its row in `messages`. Accepting it takes
 * the conversation's next seq (`sequences`) and inserts the row in one IMMEDIATE transaction
 * (group-committed with the turn's other writes): the store's unique index on (sender,
 * client message id) is the dedup check, so a repeat finds the first message for as long as
 * it is stored, and there is no tail, no log record and nothing for a processor to do.
 *
 * Opening it moves what the log-and-processor path left unstored (`accepted` rows not yet
 * stored) into the store, so switching an existing file over loses nothing; a row that
 * cannot be read goes to the log's dead letters. That path's other rows (accepted messages
 * kept for dedup, log records) are then deleted a few per accept.
 */
export class SqliteJournalSequencer implements MessageSequencer {
  readonly storesOnAccept = true;
  private readonly q;
  private readonly writer: SqliteWriter;
  private readonly sequences: SqliteSequences;
  private oldRowsLeft: boolean;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly store: SqliteMessageStore,
    private readonly logger: Logger,
  ) {
    this.writer = sqliteWriter(db);
    this.sequences = new SqliteSequences(db);
    this.q = {
      giveBack: db.prepare<[string, string]>('UPDATE sequences SET last_seq = last_seq - 1 WHERE tenant_id = ? AND conversation_id = ?'),
      catchUp: db.prepare<[string, string, string, string]>(
        'UPDATE sequences SET last_seq = (SELECT max(seq) FROM messages WHERE tenant_id = ? AND conversation_id = ?) WHERE tenant_id = ? AND conversation_id = ?',
      ),
      unstored: db.prepare<[], { seq: number; message: Buffer }>('SELECT seq, message FROM accepted WHERE stored = 0'),
      dead: db.prepare<[string, Uint8Array, string, number]>('INSERT INTO log_dead_letters (record_id, record, reason, dead_at) VALUES (?, ?, ?, ?)'),
      markStored: db.prepare('UPDATE accepted SET stored = 1 WHERE stored = 0'),
      anyOld: db.prepare<[], { old: number }>('SELECT EXISTS (SELECT 1 FROM accepted) OR EXISTS (SELECT 1 FROM log_records) AS old'),
      deleteAccepted: db.prepare<[number]>('DELETE FROM accepted WHERE rowid IN (SELECT rowid FROM accepted LIMIT ?)'),
      deleteRecords: db.prepare<[number]>('DELETE FROM log_records WHERE id IN (SELECT id FROM log_records ORDER BY id LIMIT ?)'),
    };
    this.storeUnstored();
    this.oldRowsLeft = this.q.anyOld.get()!.old === 1;
  }

  async accept(m: NewMessage): Promise<{ message: Message; duplicate: boolean }> {
    return this.writer.write(() => {
      if (this.oldRowsLeft) this.deleteOldRows();
      const first = this.insert(m);
      if (first) return first;
      // The seq is taken by a message this file got another way (e.g. a Redis sequencer's):
      // continue after the newest stored seq.
      this.q.catchUp.run(m.tenantId, m.conversationId, m.tenantId, m.conversationId);
      this.logger.warn({ tenantId: m.tenantId, conversationId: m.conversationId }, 'sequence numbers were behind the stored messages; continuing after the newest');
      const again = this.insert(m);
      if (!again) throw new Error(`no free seq for conversation ${m.conversationId}`);
      return again;
    });
  }

  /** Always empty: the store has every accepted message. */
  async recent(): Promise<Message[]> {
    return [];
  }

  async lastSeqs(t: TenantId, conversationIds: readonly ConversationId[]): Promise<Map<ConversationId, Seq>> {
    return this.sequences.last(t, conversationIds);
  }

  /** Nothing to do: accepted messages are stored already. */
  async stored(): Promise<void> {}

  /** The accepted message, the first one for a repeat, or null if its seq is taken by another message. */
  private insert(m: NewMessage): { message: Message; duplicate: boolean } | null {
    const seq = this.sequences.next(m.tenantId, m.conversationId);
    const message: Message = { ...m, seq, editedAt: null, deletedAt: null, reactions: [] };
    if (this.store.insertNow(message)) return { message, duplicate: false };
    // Insert first, look up only on a conflict: a repeat is rare, and takes no seq.
    this.q.giveBack.run(m.tenantId, m.conversationId);
    const first = this.store.sentNow(m.tenantId, m.conversationId, m.senderId, m.clientMessageId);
    return first ? { message: first, duplicate: true } : null;
  }

  private deleteOldRows(): void {
    const deleted = this.q.deleteAccepted.run(OLD_ROWS_PER_ACCEPT).changes + this.q.deleteRecords.run(OLD_ROWS_PER_ACCEPT).changes;
    if (deleted === 0) this.oldRowsLeft = false;
  }

  private storeUnstored(): void {
    const { moved, dead } = this.db.transaction(() => {
      let moved = 0;
      let dead = 0;
      for (const { seq, message } of this.q.unstored.all()) {
        const decoded = decodeMessageRecord(new Uint8Array(message));
        if (decoded.message) {
          if (this.store.insertNow(decoded.message)) moved++;
        } else {
          this.q.dead.run(`accepted:${seq}`, message, `undecodable accepted message: ${decoded.error ?? 'unknown'}`, Date.now());
          dead++;
        }
      }
      this.q.markStored.run();
      return { moved, dead };
    }).immediate();
    if (moved > 0) this.logger.info({ messages: moved }, 'accepted messages the processor had not stored were moved into the store');
    if (dead > 0) this.logger.warn({ records: dead }, 'accepted messages that could not be read were moved to the log dead letters');
  }
}

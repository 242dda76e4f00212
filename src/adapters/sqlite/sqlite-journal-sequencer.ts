import type { ConversationId, Seq, TenantId } from '../../domain/ids.js';
import type { Message } from '../../domain/model.js';
import type { Logger } from '../../ports/logger.js';
import type { MessageSequencer } from '../../ports/message-sequencer.js';
import type { NewMessage } from '../../ports/message-store.js';
import { decodeMessageRecord } from '../codec/message-record.js';
import type { SqliteDatabase } from './sqlite-database.js';
import type { SqliteMessageStore } from './sqlite-message-store.js';
import { sqliteWriter, type SqliteWriter } from './sqlite-writer.js';

/**
 * The embedded journal (docs/decisions/005): when the durable log and the store are the same
 * SQLite file, a message's one durable record is its row in `messages`. Accepting it takes
 * the conversation's next seq (`sequences`) and inserts the row in one IMMEDIATE transaction
 * (group-committed with the turn's other writes): the store's unique index on (sender,
 * client message id) is the dedup check, so a repeat finds the first message for as long as
 * it is stored, and there is no tail, no log record and nothing for a processor to do.
 *
 * Opening it moves what the log-and-processor path left unstored (`accepted` rows not yet
 * stored) into the store, so switching an existing file over loses nothing.
 */
export class SqliteJournalSequencer implements MessageSequencer {
  readonly storesOnAccept = true;
  private readonly q;
  private readonly writer: SqliteWriter;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly store: SqliteMessageStore,
    logger: Logger,
  ) {
    this.writer = sqliteWriter(db);
    this.q = {
      next: db.prepare<[string, string], { last_seq: number }>(
        `INSERT INTO sequences (tenant_id, conversation_id, last_seq) VALUES (?, ?, 1)
         ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`,
      ),
      giveBack: db.prepare<[string, string]>('UPDATE sequences SET last_seq = last_seq - 1 WHERE tenant_id = ? AND conversation_id = ?'),
      lastSeq: db.prepare<[string, string], { last_seq: number }>('SELECT last_seq FROM sequences WHERE tenant_id = ? AND conversation_id = ?'),
      unstored: db.prepare<[], { message: Buffer }>('SELECT message FROM accepted WHERE stored = 0 ORDER BY tenant_id, conversation_id, seq'),
      markStored: db.prepare('UPDATE accepted SET stored = 1 WHERE stored = 0'),
    };
    const moved = this.storeUnstored();
    if (moved > 0) logger.info({ messages: moved }, 'accepted messages the processor had not stored were moved into the store');
  }

  async accept(m: NewMessage): Promise<{ message: Message; duplicate: boolean }> {
    return this.writer.write(() => {
      const seq = this.q.next.get(m.tenantId, m.conversationId)!.last_seq;
      const message: Message = { ...m, seq, editedAt: null, deletedAt: null, reactions: [] };
      if (this.store.insertNow(message)) return { message, duplicate: false };
      // Insert first, look up only on a conflict: a repeat is rare, and takes no seq.
      this.q.giveBack.run(m.tenantId, m.conversationId);
      const first = this.store.sentNow(m.tenantId, m.conversationId, m.senderId, m.clientMessageId);
      if (!first) throw new Error(`seq ${seq} of conversation ${m.conversationId} is stored already: the sequences table is behind the messages`);
      return { message: first, duplicate: true };
    });
  }

  /** Always empty: the store has every accepted message. */
  async recent(): Promise<Message[]> {
    return [];
  }

  async lastSeqs(t: TenantId, conversationIds: readonly ConversationId[]): Promise<Map<ConversationId, Seq>> {
    return this.db.transaction(() => new Map(conversationIds.map((c) => [c, this.q.lastSeq.get(t, c)?.last_seq ?? 0])))();
  }

  /** Nothing to do: accepted messages are stored already. */
  async stored(): Promise<void> {}

  private storeUnstored(): number {
    return this.db.transaction(() => {
      let moved = 0;
      for (const { message } of this.q.unstored.all()) {
        const decoded = decodeMessageRecord(new Uint8Array(message));
        if (!decoded.message) throw new Error(`An accepted message cannot be read: ${decoded.error}`);
        if (this.store.insertNow(decoded.message)) moved++;
      }
      this.q.markStored.run();
      return moved;
    }).immediate();
  }
}

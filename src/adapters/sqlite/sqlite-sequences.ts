import type { ConversationId, Seq, TenantId } from '../../domain/ids.js';
import type { SqliteDatabase } from './sqlite-database.js';

/** Each conversation's last seq (`sequences`), shared by both SQLite sequencers. */
export class SqliteSequences {
  private readonly q;

  constructor(private readonly db: SqliteDatabase) {
    this.q = {
      next: db.prepare<[string, string], { last_seq: number }>(
        `INSERT INTO sequences (tenant_id, conversation_id, last_seq) VALUES (?, ?, 1)
         ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`,
      ),
      last: db.prepare<[string, string], { last_seq: number }>('SELECT last_seq FROM sequences WHERE tenant_id = ? AND conversation_id = ?'),
    };
  }

  /** Takes the conversation's next seq, in the caller's transaction. */
  next(t: TenantId, c: ConversationId): Seq {
    return this.q.next.get(t, c)!.last_seq;
  }

  /** The newest seq of each conversation (0 for one without messages), from one snapshot. */
  last(t: TenantId, conversationIds: readonly ConversationId[]): Map<ConversationId, Seq> {
    return this.db.transaction(() => new Map(conversationIds.map((c) => [c, this.q.last.get(t, c)?.last_seq ?? 0])))();
  }
}

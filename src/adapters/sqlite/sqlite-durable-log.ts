import type { Message } from '../../domain/model.js';
import type { DurableLog, LogConsumer, LogConsumerOptions, LogEntry } from '../../ports/durable-log.js';
import type { Logger } from '../../ports/logger.js';
import { encodeMessageRecord, toLogEntry } from '../codec/message-record.js';
import { ConsumerState, runConsumerLoop } from '../log-consumer/consumer-loop.js';
import type { SqliteDatabase } from './sqlite-database.js';
import { sqliteWriter, type SqliteWriter } from './sqlite-writer.js';

export interface SqliteDurableLogOptions {
  /** How often an idle consumer looks for records that other processes appended (default 100 ms). */
  pollIntervalMs: number;
  /** Records every group has committed are deleted once older than this (default 7 days). */
  retentionMs: number;
  /** How often consumers delete records past retention (default 60 s). */
  retentionCheckMs: number;
}

const DEFAULTS: SqliteDurableLogOptions = { pollIntervalMs: 100, retentionMs: 7 * 24 * 3600 * 1000, retentionCheckMs: 60_000 };
/** Rows one retention pass deletes at most, so the write lock is held briefly. */
const RETENTION_BATCH = 10_000;

/**
 * The embedded durable log: `log_records` holds every record under one sequence (the row id),
 * `log_groups` each group's committed id. A consumer reads the records after its group's
 * committed id, hands them to its handler and moves the committed id once the handler
 * resolves. It wakes at once when this process appends and polls for other processes'
 * appends.
 *
 * The members of a group in this process take turns, one batch at a time, so records of a
 * conversation are handled in order. `log_groups` has no owner or lease, so members of one
 * group in different processes sharing the file do not exclude each other: run a group's
 * consumers in one process, or expect some records to be handled twice (the commit only
 * moves forward, so nothing is lost).
 */
export class SqliteDurableLog implements DurableLog {
  private readonly options: SqliteDurableLogOptions;
  private readonly q;
  private readonly writer: SqliteWriter;
  private readonly running = new Set<{ state: ConsumerState; loop: { abandon(): Promise<void> } }>();
  /** The members of a group in this process take turns through this chain. */
  private readonly turns = new Map<string, Promise<void>>();
  private lastRetention = 0;

  constructor(
    db: SqliteDatabase,
    private readonly logger: Logger,
    options: Partial<SqliteDurableLogOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.writer = sqliteWriter(db);
    this.q = {
      insert: db.prepare<[string, string, Uint8Array, number]>('INSERT INTO log_records (tenant_id, conversation_id, record, appended_at) VALUES (?, ?, ?, ?)'),
      join: db.prepare<[string]>('INSERT INTO log_groups (group_name, committed) VALUES (?, 0) ON CONFLICT DO NOTHING'),
      after: db.prepare<[string, number], { id: number; record: Buffer }>(
        'SELECT id, record FROM log_records WHERE id > (SELECT committed FROM log_groups WHERE group_name = ?) ORDER BY id LIMIT ?',
      ),
      commit: db.prepare<[number, string, number]>('UPDATE log_groups SET committed = ? WHERE group_name = ? AND committed < ?'),
      expire: db.prepare<[number, number]>(
        `DELETE FROM log_records WHERE id IN (
           SELECT id FROM log_records WHERE id <= (SELECT min(committed) FROM log_groups) AND appended_at < ? ORDER BY id LIMIT ?)`,
      ),
      dead: db.prepare<[string, Uint8Array, string, number]>('INSERT INTO log_dead_letters (record_id, record, reason, dead_at) VALUES (?, ?, ?, ?)'),
    };
  }

  async append(messages: readonly Message[]): Promise<void> {
    if (messages.length === 0) return;
    const now = Date.now();
    await this.writer.write(() => {
      for (const m of messages) this.q.insert.run(m.tenantId, m.conversationId, encodeMessageRecord(m), now);
    });
    for (const { state } of this.running) state.wake();
  }

  consume(options: LogConsumerOptions, handler: (entries: LogEntry[]) => Promise<void>): LogConsumer {
    const { group, batchSize } = options;
    const state = new ConsumerState(handler, this.logger, { backend: 'sqlite', group, consumer: options.consumer });
    let joined = false;
    const loop = runConsumerLoop(
      state,
      {
        step: async () => {
          const endTurn = await this.takeTurn(group);
          try {
            if (state.stopped) return false;
            if (!joined) {
              this.q.join.run(group);
              joined = true;
            }
            const rows = this.q.after.all(group, batchSize);
            if (rows.length === 0) return false;
            const entries = rows.map((r) => toLogEntry(String(r.id), r.record));
            if (!(await state.handle(entries))) return true;
            const last = rows[rows.length - 1]!.id;
            this.q.commit.run(last, group, last);
          } finally {
            endTurn();
          }
          this.expireOldRecords();
          return true;
        },
        idle: () => {
          this.expireOldRecords();
          return state.sleep(this.options.pollIntervalMs);
        },
      },
      this.logger,
    );
    const entry = { state, loop };
    this.running.add(entry);
    return {
      stop: async () => {
        await loop.stop();
        this.running.delete(entry);
      },
    };
  }

  async deadLetter(entries: readonly { entry: LogEntry; reason: string }[]): Promise<void> {
    const now = Date.now();
    await this.writer.write(() => {
      for (const { entry, reason } of entries) this.q.dead.run(entry.id, entry.raw, reason, now);
    });
  }

  /** Abandons the running consumers, as a process exit would: their uncommitted batches are read again. The database stays open. */
  async close(): Promise<void> {
    const running = [...this.running];
    this.running.clear();
    await Promise.all(running.map(({ loop }) => loop.abandon()));
  }

  /** Waits for this group's turn; the returned function ends it. */
  private async takeTurn(group: string): Promise<() => void> {
    const previous = this.turns.get(group) ?? Promise.resolve();
    let end!: () => void;
    const mine = new Promise<void>((resolve) => (end = resolve));
    const chain = previous.then(() => mine);
    this.turns.set(group, chain);
    await previous;
    return () => {
      end();
      if (this.turns.get(group) === chain) this.turns.delete(group);
    };
  }

  private expireOldRecords(): void {
    const now = Date.now();
    if (now - this.lastRetention < this.options.retentionCheckMs) return;
    this.lastRetention = now;
    try {
      const { changes } = this.q.expire.run(now - this.options.retentionMs, RETENTION_BATCH);
      if (changes > 0) this.logger.debug({ deleted: changes }, 'durable log records past retention deleted');
      // A full batch means more are due: look again on the next commit.
      if (changes === RETENTION_BATCH) this.lastRetention = 0;
    } catch (err) {
      this.logger.warn({ err }, 'durable log retention failed');
    }
  }
}

import type { SqliteDatabase } from './sqlite-database.js';

interface Queued {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for every writer of one database file: the writes queued during one
 * event-loop turn (sequencer accepts, log appends, inbox appends, store inserts, acks) run
 * in one IMMEDIATE transaction and resolve only once it has committed. A commit writes each
 * page it touched to the WAL once, however many writes touched it, and BEGIN/COMMIT is paid
 * once per turn instead of once per write: that is most of what a message costs in SQLite.
 *
 * A write that throws must not take the others with it: the whole turn is then rolled back
 * and its writes run again, each in its own transaction, so only the failing one rejects.
 * (Savepoints would isolate it too, but cost more than the statements of a typical write.)
 * Writes are synchronous statements that can run again; they run in the order queued.
 */
export class SqliteWriter {
  private queued: Queued[] = [];

  constructor(private readonly db: SqliteDatabase) {}

  /** Runs `work` (synchronous statements) in the next group commit; resolves with its result once committed. */
  write<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.queued.length === 1) setImmediate(() => this.commit());
    });
  }

  /** Commits what is queued now, synchronously: before the database is closed. */
  flush(): void {
    this.commit();
  }

  private commit(): void {
    const batch = this.queued;
    if (batch.length === 0) return;
    this.queued = [];
    let results: unknown[];
    try {
      results = this.db.transaction(() => batch.map((q) => q.work())).immediate();
    } catch {
      for (const q of batch) {
        try {
          q.resolve(this.db.transaction(q.work).immediate());
        } catch (err) {
          q.reject(err);
        }
      }
      return;
    }
    batch.forEach((q, i) => q.resolve(results[i]));
  }
}

const writers = new WeakMap<SqliteDatabase, SqliteWriter>();

/** The one writer of a database connection, shared by every adapter that writes through it. */
export function sqliteWriter(db: SqliteDatabase): SqliteWriter {
  let writer = writers.get(db);
  if (!writer) {
    writer = new SqliteWriter(db);
    writers.set(db, writer);
  }
  return writer;
}

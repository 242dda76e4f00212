import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../ports/logger.js';
import { BUSY_TIMEOUT_MS, type SqliteDatabase } from './sqlite-database.js';

export interface SqliteCheckpointerOptions {
  /** How often the worker copies the WAL back into the database file (default 100 ms). */
  intervalMs: number;
  /**
   * WAL size, in pages, past which the main connection checkpoints the rest right after one
   * of the worker's, so that the WAL starts over (default 4000, 16 MB).
   */
  restartPages: number;
  /**
   * WAL size, in pages, past which a commit on the main thread checkpoints by itself
   * (default 10 000, 40 MB): only when the worker falls behind. Once the worker has stopped,
   * SQLite's own 1000 pages.
   */
  fallbackPages: number;
}

/** SQLite's own `wal_autocheckpoint`, for when the worker has stopped. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

const DEFAULTS: SqliteCheckpointerOptions = { intervalMs: 100, restartPages: 4000, fallbackPages: 10_000 };

/**
 * The worker: its own connection to the file, checkpointing on a timer until told to stop.
 * When the WAL it has just copied is past `restartPages` and has grown since its last report,
 * it tells the main thread and pauses until the main connection's checkpoint is done (two
 * would only get in each other's way). The WAL starts over only at the next commit, so an
 * idle server's stays as it is, and is not reported again.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: workerData.busyTimeoutMs });
let mainCopying = false;
/** The WAL size last reported to the main thread. */
let reported = -1;
const checkpoint = () => {
  if (mainCopying) return;
  try {
    let [{ log }] = db.pragma('wal_checkpoint(PASSIVE)');
    // Nothing was committed since the last report (an idle server): nothing to start over.
    if (log < workerData.restartPages || log === reported) return;
    // Copy again what was committed while it copied, so the main connection has little left.
    for (let pass = 0; pass < 3; pass++) {
      const before = log;
      [{ log }] = db.pragma('wal_checkpoint(PASSIVE)');
      if (log - before < 64) break;
    }
    mainCopying = true;
    reported = log;
    parentPort.postMessage({ copied: log });
  } catch (err) {
    parentPort.postMessage({ error: String(err) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'copied') {
    mainCopying = false;
    return;
  }
  clearInterval(timer);
  mainCopying = false;
  checkpoint();
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints a WAL-mode database from a worker thread. A checkpoint copies the WAL's pages
 * into the database file and syncs both. Done by the commit that crosses
 * `wal_autocheckpoint`, it stalls the event loop; here the worker copies the WAL every
 * `intervalMs` with PASSIVE checkpoints, which never wait for readers or writers, so the
 * main connection mostly only appends to the WAL.
 *
 * The WAL starts over from its beginning only once a checkpoint has copied all of it, which
 * the worker's never do under constant writes: commits go on while it copies. So once the
 * WAL is past `restartPages`, the worker copies again what was committed during its copy,
 * reports, and the main connection checkpoints what little was committed since (6 ms at
 * the median, 15 ms at most, with its two syncs, under the point-to-point bench); the next
 * commit starts the WAL over. Left to `wal_autocheckpoint` at SQLite's
 * 1000 pages, that checkpoint came every few hundred commits at an arbitrary point, with
 * up to 100 ms of WAL to copy and sync: commits of 20–70 ms, 20–30 times in 5 s.
 */
export class SqliteCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(db: SqliteDatabase, file: string, logger: Logger, options: Partial<SqliteCheckpointerOptions> = {}) {
    const { intervalMs, restartPages, fallbackPages } = { ...DEFAULTS, ...options };
    db.pragma(`wal_autocheckpoint = ${fallbackPages}`);
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, file, intervalMs, restartPages, busyTimeoutMs: BUSY_TIMEOUT_MS } });
    this.worker.on('message', (m: { error: string } | { copied: number }) => {
      if ('error' in m) logger.warn({ err: m.error, file }, 'SQLite checkpoint failed');
      else this.finish(db, file, logger);
    });
    this.worker.on('error', (err) => {
      logger.error({ err, file }, 'SQLite checkpointer stopped; commits checkpoint the WAL themselves');
      // Without the worker, commits copy the WAL themselves: in steps of SQLite's default size.
      if (db.open) db.pragma(`wal_autocheckpoint = ${Math.min(fallbackPages, SQLITE_DEFAULT_AUTOCHECKPOINT)}`);
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // The server's exit does not wait for checkpoints: the WAL is as durable as the file.
    this.worker.unref();
  }

  /** The main connection's checkpoint of what the worker left; the next commit then starts the WAL over. */
  private finish(db: SqliteDatabase, file: string, logger: Logger): void {
    if (!db.open) return;
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      logger.warn({ err, file }, 'SQLite checkpoint failed');
    }
    this.worker.postMessage('copied');
  }

  /** Checkpoints once more and ends the worker. */
  async stop(): Promise<void> {
    this.worker.ref();
    this.worker.postMessage('stop');
    await this.exited;
  }
}

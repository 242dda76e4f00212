import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../ports/logger.js';
import { BUSY_TIMEOUT_MS, type SqliteDatabase } from './sqlite-database.js';

export interface SqliteCheckpointerOptions {
  /** How often the WAL is copied back into the database file (default 100 ms). */
  intervalMs: number;
  /**
   * WAL size, in pages, past which a commit on the main thread checkpoints by itself
   * (default 1000, 4 MB, SQLite's own default). The worker has copied most of the WAL by
   * then, so that checkpoint is short; it is still needed: the WAL starts over from its
   * beginning only after a checkpoint that finds no commit running beside it, which the
   * worker's never do under constant writes, so without it the WAL file would grow for ever.
   */
  fallbackPages: number;
}

const DEFAULTS: SqliteCheckpointerOptions = { intervalMs: 100, fallbackPages: 1000 };

/** The worker: its own connection to the file, checkpointing on a timer until told to stop. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: workerData.busyTimeoutMs });
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String(err) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints a WAL-mode database from a worker thread. A checkpoint copies the WAL's pages
 * into the database file and syncs both; done by the commit that crosses
 * `wal_autocheckpoint`, it stalls the event loop for milliseconds every few hundred commits
 * and is about half of what a commit costs. Here the main connection mostly only appends to the WAL.
 *
 * PASSIVE checkpoints never wait for readers or writers, so they cannot block the server;
 * whatever they could not copy is copied by the next one.
 */
export class SqliteCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(db: SqliteDatabase, file: string, logger: Logger, options: Partial<SqliteCheckpointerOptions> = {}) {
    const { intervalMs, fallbackPages } = { ...DEFAULTS, ...options };
    db.pragma(`wal_autocheckpoint = ${fallbackPages}`);
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, file, intervalMs, busyTimeoutMs: BUSY_TIMEOUT_MS } });
    this.worker.on('message', (m: { error: string }) => logger.warn({ err: m.error, file }, 'SQLite checkpoint failed'));
    this.worker.on('error', (err) => logger.warn({ err, file }, 'SQLite checkpointer stopped; commits checkpoint the WAL themselves'));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // The server's exit does not wait for checkpoints: the WAL is as durable as the file.
    this.worker.unref();
  }

  /** Checkpoints once more and ends the worker. */
  async stop(): Promise<void> {
    this.worker.ref();
    this.worker.postMessage('stop');
    await this.exited;
  }
}

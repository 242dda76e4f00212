import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SqliteCheckpointer } from '../../src/adapters/sqlite/sqlite-checkpointer.js';
import { openSqliteDatabase } from '../../src/adapters/sqlite/sqlite-database.js';
import { until } from '../helpers/harness.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('SqliteCheckpointer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-checkpoint-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('copies the WAL into the database file from its worker, so commits do not have to', async () => {
    const file = join(dir, 'db.sqlite');
    const db = openSqliteDatabase(file);
    // Commits checkpoint only past 100 000 pages here, so the worker is what copies the WAL.
    const checkpointer = new SqliteCheckpointer(db, file, quiet, { intervalMs: 20, fallbackPages: 100_000 });
    try {
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 100_000);
      const before = statSync(file).size;
      const insert = db.prepare('INSERT INTO log_records (tenant_id, conversation_id, record, appended_at) VALUES (?, ?, ?, ?)');
      // About 5 MB: past SQLite's default autocheckpoint (1000 pages).
      db.transaction(() => {
        for (let i = 0; i < 5000; i++) insert.run('t', 'c', Buffer.alloc(1000, i % 256), i);
      }).immediate();
      await until(() => statSync(file).size > before + 4_000_000, 10_000);
    } finally {
      await checkpointer.stop();
      db.close();
    }
    const reopened = openSqliteDatabase(file);
    assert.deepEqual(reopened.prepare('SELECT count(*) AS n FROM log_records').get(), { n: 5000 }, 'everything is in the file after the stop');
    reopened.close();
  });

  it('starts the WAL over under constant writes, without the commits checkpointing by themselves', async () => {
    const file = join(dir, 'busy.sqlite');
    const db = openSqliteDatabase(file);
    // A commit every event-loop turn, so the worker's checkpoints never catch up alone.
    const checkpointer = new SqliteCheckpointer(db, file, quiet, { intervalMs: 10, restartPages: 100, fallbackPages: 100_000 });
    const insert = db.prepare('INSERT INTO log_records (tenant_id, conversation_id, record, appended_at) VALUES (?, ?, ?, ?)');
    const commits = 3000;
    try {
      for (let i = 0; i < commits; i++) {
        db.transaction(() => insert.run('t', 'c', Buffer.alloc(4000, i % 256), i)).immediate();
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      await checkpointer.stop();
    }
    // The frames in the WAL now (this checkpoint reports them before it copies anything):
    // without starting over it would hold nearly every page of the 3000 commits (about 7000).
    const { log } = (db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]!;
    db.close();
    assert.ok(log >= 0 && log < 4000, `the WAL holds ${log} frames after ${commits} commits of 4 KB`);
  });
});

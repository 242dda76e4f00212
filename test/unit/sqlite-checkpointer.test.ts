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
    const commitTurns = async (from: number, count: number): Promise<void> => {
      for (let i = from; i < from + count; i++) {
        db.transaction(() => insert.run('t', 'c', Buffer.alloc(4000, i % 256), i)).immediate();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    try {
      // The WAL grows while the worker starts; a WAL file keeps the size it grew to.
      await commitTurns(0, 500);
      const started = statSync(`${file}-wal`).size;
      // Two pages each, over 20 MB: a WAL that never started over would hold all of it.
      await commitTurns(500, 2500);
      const wal = statSync(`${file}-wal`).size;
      assert.ok(wal < started + 4_000_000, `the WAL grew from ${started} to ${wal} bytes in 2500 commits of 4 KB`);
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });
});

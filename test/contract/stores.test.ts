import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryConversationStore } from '../../src/adapters/memory/memory-conversation-store.js';
import { MemoryMessageStore } from '../../src/adapters/memory/memory-message-store.js';
import { openPostgres, type PostgresPool } from '../../src/adapters/postgres/postgres-database.js';
import { PostgresConversationStore } from '../../src/adapters/postgres/postgres-conversation-store.js';
import { PostgresMessageStore } from '../../src/adapters/postgres/postgres-message-store.js';
import { openSqliteDatabase, SQLITE_MIGRATIONS, type SqliteDatabase } from '../../src/adapters/sqlite/sqlite-database.js';
import { SqliteConversationStore } from '../../src/adapters/sqlite/sqlite-conversation-store.js';
import { SqliteDurableLog } from '../../src/adapters/sqlite/sqlite-durable-log.js';
import { SqliteInbox } from '../../src/adapters/sqlite/sqlite-inbox.js';
import { SqliteMessageSequencer } from '../../src/adapters/sqlite/sqlite-message-sequencer.js';
import { SqliteMessageStore } from '../../src/adapters/sqlite/sqlite-message-store.js';
import { sqliteWriter } from '../../src/adapters/sqlite/sqlite-writer.js';
import { asConversationId, asMessageId, asTenantId, asUserId } from '../../src/domain/ids.js';
import type { Message } from '../../src/domain/model.js';
import type { Envelope } from '../../src/domain/protocol/envelope.js';
import type { NewMessage } from '../../src/ports/message-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { sqliteFileAtVersion } from '../helpers/sqlite.js';
import { storesContract } from './stores.contract.js';

describe('in memory', () => {
  storesContract('memory', async () => ({ conversations: new MemoryConversationStore(), messages: new MemoryMessageStore() }));
});

describe('in SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-contract-'));
  const open: SqliteDatabase[] = [];
  after(() => {
    for (const db of open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  storesContract('sqlite', async () => {
    const db = openSqliteDatabase(join(dir, `db-${open.length}.sqlite`));
    open.push(db);
    return { conversations: new SqliteConversationStore(db), messages: new SqliteMessageStore(db) };
  });
});

describe('in PostgreSQL', () => {
  let database: TestDatabase;
  const pools: PostgresPool[] = [];
  const open = async (url: string) => {
    const pool = await openPostgres(url);
    pools.push(pool);
    return pool;
  };
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await database.drop();
  });

  storesContract('postgres', async () => {
    const pool = await open(await database.freshSchema());
    return { conversations: new PostgresConversationStore(pool), messages: new PostgresMessageStore(pool) };
  });

  it('applies each migration once when several processes start at the same time', async () => {
    const url = await database.freshSchema();
    const [pool] = await Promise.all(Array.from({ length: 4 }, () => open(url)));
    const { rows } = await pool!.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    assert.ok(rows.length > 0);
    assert.deepEqual(rows.map((r) => r.version), rows.map((_, i) => i + 1));
    await open(url);
    assert.equal((await pool!.query('SELECT version FROM schema_migrations')).rowCount, rows.length, 'a later start finds nothing to do');
  });

  it('keeps the messages of a schema whose unique indexes led with the conversation, and the same uniqueness on the new ones', async () => {
    const url = await database.freshSchema();
    const first = await open(url);
    // The schema as the first migration left it.
    await first.query(`DROP INDEX messages_by_id; CREATE UNIQUE INDEX messages_by_id ON messages (tenant_id, conversation_id, id);
      DROP INDEX messages_dedup; CREATE UNIQUE INDEX messages_dedup ON messages (tenant_id, conversation_id, sender_id, client_message_id);
      DELETE FROM schema_migrations WHERE version > 1`);
    const t = asTenantId('acme');
    const message = (o: Partial<Message>): Message => ({
      tenantId: t, conversationId: asConversationId('c1'), id: asMessageId('m1'), seq: 1, senderId: asUserId('ann'), clientMessageId: 'cm1',
      type: 'text', content: 'first', metadata: {}, attachment: null, replyTo: null, createdAt: '2026-11-22T10:00:00.000Z', editedAt: null, deletedAt: null, reactions: [], ...o,
    });
    await new PostgresMessageStore(first).insert([message({}), message({ conversationId: asConversationId('c2'), id: asMessageId('m2'), content: 'the same client id in another conversation' })]);

    const pool = await open(url);
    const indexdef = async (name: string) => (await pool.query<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE indexname = $1 AND schemaname = current_schema()', [name])).rows[0]?.indexdef;
    assert.match((await indexdef('messages_by_id')) ?? '', /\(id, tenant_id, conversation_id\)/);
    assert.match((await indexdef('messages_dedup')) ?? '', /\(client_message_id, tenant_id, conversation_id, sender_id\)/);
    const store = new PostgresMessageStore(pool);
    assert.equal((await store.get(t, asConversationId('c1'), asMessageId('m1')))?.content, 'first');
    assert.equal((await store.get(t, asConversationId('c2'), asMessageId('m2')))?.content, 'the same client id in another conversation');
    assert.equal(await store.insert([message({ id: asMessageId('m3'), seq: 2 })]), 0, 'a repeat of a client message id in its conversation');
    assert.equal(await store.insert([message({ seq: 2, clientMessageId: 'cm3' })]), 0, 'a repeat of an id in its conversation');
    assert.equal(await store.insert([message({ conversationId: asConversationId('c3'), clientMessageId: 'cm3' })]), 1, 'the same id in another conversation');
  });
});

describe('SQLite schema', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-schema-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  /** How long the other process holds the new file's write lock, as a migration would. */
  const MIGRATION_MS = 300;

  it('opens a new file while another process holds its write lock (a start beside a migrating one), once the lock is free', async () => {
    const file = join(dir, 'locked.sqlite');
    // What a process that is migrating the new file holds: its write lock, in a transaction.
    const migrating = new Database(file);
    migrating.exec('CREATE TABLE first_process (x)');
    migrating.exec('BEGIN IMMEDIATE');
    const script = `import { openSqliteDatabase } from ${JSON.stringify(new URL('../../src/adapters/sqlite/sqlite-database.ts', import.meta.url).href)};
      console.log('opening');
      const db = openSqliteDatabase(${JSON.stringify(file)});
      console.log(db.pragma('journal_mode', { simple: true }));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('opening')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the opener exited with ${code} before it opened: ${err}`)));
    });
    // The other process's migration goes on for a while after the opener started; the opener
    // must wait for it, not fail. (The length of the migration is the scenario, not a wait for an event.)
    await new Promise((r) => setTimeout(r, MIGRATION_MS));
    migrating.exec('COMMIT');
    migrating.close();
    assert.equal(await exited, 0, err);
    assert.match(out, /opening\s+wal/);
  });

  it('keeps the messages of a file whose unique indexes led with the conversation, and the same uniqueness on the new ones', async () => {
    const file = join(dir, 'indexes.sqlite');
    const old = sqliteFileAtVersion(file, SQLITE_MIGRATIONS.length - 1);
    const row = old.prepare(
      `INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_id, client_message_id, type, content, metadata, created_at)
       VALUES (?, ?, ?, ?, ?, ?, 'text', ?, '{}', '2026-11-22T10:00:00.000Z')`,
    );
    row.run('acme', 'c1', 1, 'm1', 'ann', 'cm1', 'first');
    row.run('acme', 'c2', 1, 'm2', 'ann', 'cm1', 'the same client id in another conversation');
    old.close();

    const db = openSqliteDatabase(file);
    try {
      const leading = (index: string) => db.prepare<[], { name: string }>(`SELECT name FROM pragma_index_info('${index}') ORDER BY seqno`).all().map((c) => c.name);
      assert.deepEqual(leading('messages_by_id'), ['id', 'tenant_id', 'conversation_id']);
      assert.deepEqual(leading('messages_dedup'), ['client_message_id', 'tenant_id', 'conversation_id', 'sender_id']);
      const store = new SqliteMessageStore(db);
      const [t, c1, c2] = [asTenantId('acme'), asConversationId('c1'), asConversationId('c2')];
      assert.equal((await store.get(t, c1, asMessageId('m1')))?.content, 'first');
      assert.equal(await store.get(t, c2, asMessageId('m1')), null, 'an id is looked up in its conversation');
      assert.equal(store.sentNow(t, c2, asUserId('ann'), 'cm1')?.id, 'm2');
      const next = (o: Partial<Message>): Message => ({
        tenantId: t, conversationId: c1, id: asMessageId('m3'), seq: 2, senderId: asUserId('ann'), clientMessageId: 'cm3',
        type: 'text', content: 'x', metadata: {}, attachment: null, replyTo: null, createdAt: '2026-11-22T10:00:01.000Z', editedAt: null, deletedAt: null, reactions: [], ...o,
      });
      assert.equal(store.insertNow(next({ clientMessageId: 'cm1' })), false, 'a repeat of a client message id in its conversation');
      assert.equal(store.insertNow(next({ id: asMessageId('m1') })), false, 'a repeat of an id in its conversation');
      assert.equal(store.insertNow(next({ conversationId: asConversationId('c3'), id: asMessageId('m1'), clientMessageId: 'cm1', seq: 1 })), true, 'both are free in another conversation');
      assert.equal(store.insertNow(next({})), true);
    } finally {
      db.close();
    }
  });

  it('refuses a file that a newer release migrated, and leaves it as it was', () => {
    const file = join(dir, 'newer.sqlite');
    const db = openSqliteDatabase(file);
    const current = db.pragma('user_version', { simple: true }) as number;
    db.pragma(`user_version = ${current + 1}`);
    db.close();
    assert.throws(() => openSqliteDatabase(file), /schema version .* this release knows up to/);
    const raw = new Database(file);
    assert.equal(raw.pragma('user_version', { simple: true }), current + 1, 'not set back');
    raw.close();
  });
});

describe('SQLite group commit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-group-commit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const tenantId = asTenantId('acme');
  const at = '2026-11-22T10:00:00.000Z';
  const message = (i: number, o: Partial<Message> = {}): Message => ({
    tenantId, conversationId: asConversationId('c'), id: asMessageId(`m${i}`), seq: i, senderId: asUserId('ann'), clientMessageId: `c${i}`,
    type: 'text', content: `m${i}`, metadata: {}, attachment: null, replyTo: null, createdAt: at, editedAt: null, deletedAt: null, reactions: [], ...o,
  });

  const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

  const newMessage = (i: number): NewMessage => {
    const { seq: _seq, editedAt: _e, deletedAt: _d, reactions: _r, ...rest } = message(i);
    return rest;
  };

  /** Counts the transactions that reach the file (savepoints inside one are not counted). */
  function countTransactions(db: SqliteDatabase): { count: number } {
    const counter = { count: 0 };
    const transaction = db.transaction.bind(db);
    db.transaction = ((fn: Parameters<typeof transaction>[0]) => {
      const tx = transaction(fn);
      const outermost = <T>(run: () => T): T => {
        if (!db.inTransaction) counter.count++;
        return run();
      };
      return Object.assign((...args: unknown[]) => outermost(() => tx(...args)), { immediate: (...args: unknown[]) => outermost(() => tx.immediate(...args)) });
    }) as typeof db.transaction;
    return counter;
  }

  it('commits the inserts of one turn in one transaction, and one that fails does not take the others with it', async () => {
    const db = openSqliteDatabase(join(dir, 'db.sqlite'));
    try {
      const messages = new SqliteMessageStore(db);
      const transactions = countTransactions(db);

      assert.deepEqual(await Promise.all([messages.insert([message(1)]), messages.insert([message(2), message(3)]), messages.insert([message(1)])]), [1, 2, 0]);
      assert.equal(transactions.count, 1, 'one transaction for the three inserts');

      // BigInt metadata cannot be encoded: that insert fails, alone.
      const results = await Promise.allSettled([messages.insert([message(4)]), messages.insert([message(5, { metadata: { n: 5n } })]), messages.insert([message(6)])]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.deepEqual((await messages.page(tenantId, asConversationId('c'), { limit: 10 })).map((m) => m.content), ['m1', 'm2', 'm3', 'm4', 'm6']);
    } finally {
      db.close();
    }
  });

  it('commits what is queued at once on flush, so a closing database loses no write', async () => {
    const db = openSqliteDatabase(join(dir, 'flush.sqlite'));
    const messages = new SqliteMessageStore(db);
    const inserted = messages.insert([message(1), message(2)]);
    sqliteWriter(db).flush();
    db.close();
    assert.equal(await inserted, 2, 'resolved as committed');
    const reopened = openSqliteDatabase(join(dir, 'flush.sqlite'));
    try {
      assert.deepEqual((await new SqliteMessageStore(reopened).page(tenantId, asConversationId('c'), { limit: 10 })).map((m) => m.content), ['m1', 'm2']);
    } finally {
      reopened.close();
    }
  });

  it('shares one commit between the sequencer, the durable log, the inboxes and the store of one file', async () => {
    const db = openSqliteDatabase(join(dir, 'shared.sqlite'));
    try {
      const sequencer = new SqliteMessageSequencer(db);
      const log = new SqliteDurableLog(db, quiet);
      const inbox = new SqliteInbox(db);
      const messages = new SqliteMessageStore(db);
      const transactions = countTransactions(db);
      const users = [asUserId('ann'), asUserId('bob')];
      const envelope = { v: 1, id: 'e1', type: 'message', action: 'message:new', ts: 0, data: {} } as unknown as Envelope;

      const [accepted, , appended] = await Promise.all([
        sequencer.accept(newMessage(1)),
        log.append([message(7)]),
        inbox.append(tenantId, users, envelope, null, Date.now()),
        messages.insert([message(7)]),
      ]);
      assert.equal(transactions.count, 1, 'one transaction for the four writers');
      assert.equal(accepted.message.seq, 1);
      assert.deepEqual([...appended.offsets.values()], [1, 1]);
      assert.equal((await sequencer.accept(newMessage(2))).message.seq, 2, 'the next turn commits on its own');
      assert.equal(transactions.count, 2);
      assert.equal((await inbox.read(tenantId, asUserId('bob'), 0, 10)).entries.length, 1, 'committed and visible');
    } finally {
      db.close();
    }
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createClient } from 'redis';
import { MemoryInbox } from '../../src/adapters/memory/memory-inbox.js';
import { MemoryMessageSequencer } from '../../src/adapters/memory/memory-message-sequencer.js';
import { connectRedis, type RedisConnections } from '../../src/adapters/redis/redis-connection.js';
import { RedisInbox } from '../../src/adapters/redis/redis-inbox.js';
import { RedisMessageSequencer } from '../../src/adapters/redis/redis-message-sequencer.js';
import { encodeEnvelope } from '../../src/adapters/codec/inbox-envelope.js';
import { openSqliteDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/sqlite-database.js';
import { SqliteDurableLog } from '../../src/adapters/sqlite/sqlite-durable-log.js';
import { SqliteInbox } from '../../src/adapters/sqlite/sqlite-inbox.js';
import { SqliteJournalSequencer } from '../../src/adapters/sqlite/sqlite-journal-sequencer.js';
import { SqliteMessageSequencer } from '../../src/adapters/sqlite/sqlite-message-sequencer.js';
import { SqliteMessageStore } from '../../src/adapters/sqlite/sqlite-message-store.js';
import { sqliteWriter } from '../../src/adapters/sqlite/sqlite-writer.js';
import { asConversationId, asMessageId, asTenantId, asUserId } from '../../src/domain/ids.js';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { inboxContract } from './inbox.contract.js';
import { messageSequencerContract } from './message-sequencer.contract.js';
import { redisFixture } from './redis-fixture.js';
import { sqliteFileAtVersion } from '../helpers/sqlite.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('in memory', () => {
  inboxContract('memory', async (retention) => new MemoryInbox(retention));
  messageSequencerContract('memory', async (options) => ({ sequencer: new MemoryMessageSequencer(options) }));
});

describe('in SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-delivery-'));
  const dbs: SqliteDatabase[] = [];
  let files = 0;
  /** A new database file; `connections` opens it that many times, as processes sharing it would. */
  const open = (connections = 1): SqliteDatabase[] => {
    const file = join(dir, `delivery-${files++}.sqlite`);
    const opened = Array.from({ length: connections }, () => openSqliteDatabase(file));
    dbs.push(...opened);
    return opened;
  };
  after(() => {
    for (const db of dbs) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  inboxContract('sqlite', async (retention) => new SqliteInbox(open()[0]!, retention));
  messageSequencerContract('sqlite', async (options) => ({ sequencer: new SqliteMessageSequencer(open()[0]!, options) }));
  messageSequencerContract('sqlite journal (stores on accept)', async () => {
    const db = open()[0]!;
    const store = new SqliteMessageStore(db);
    return { sequencer: new SqliteJournalSequencer(db, store, quiet), store };
  });

  it('journal: takes over a file of the log-and-processor path without losing or renumbering a message', async () => {
    const [db] = open();
    const tail = new SqliteMessageSequencer(db!);
    const sent = (n: number) => ({ tenantId: asTenantId('acme'), conversationId: asConversationId('c'), id: asMessageId(`m${n}`), senderId: asUserId('ann'), clientMessageId: `cm${n}`, type: 'text' as const, content: `hello ${n}`, metadata: {}, attachment: null, replyTo: null, createdAt: '2026-01-01T00:00:00.000Z' });
    const accepted = [];
    for (let n = 1; n <= 3; n++) accepted.push((await tail.accept(sent(n))).message);
    const store = new SqliteMessageStore(db!);
    // The processor had stored the first only.
    await store.insert([accepted[0]!]);
    await tail.stored([accepted[0]!]);
    const journal = new SqliteJournalSequencer(db!, store, quiet);
    assert.deepEqual(await store.page(asTenantId('acme'), asConversationId('c'), { limit: 10 }), accepted, 'the unstored ones are in the store');
    assert.deepEqual(await tail.recent(asTenantId('acme'), asConversationId('c')), [], 'and out of the old tail');
    assert.deepEqual(await journal.accept(sent(2)), { message: accepted[1], duplicate: true }, 'a repeat from before the switch is still a repeat');
    assert.equal((await journal.accept(sent(4))).message.seq, 4, 'numbering goes on');
  });

  describe('journal', () => {
    const journalOn = () => {
      const [db] = open();
      const store = new SqliteMessageStore(db!);
      return { db: db!, store, journal: new SqliteJournalSequencer(db!, store, quiet) };
    };
    const sent = (n: number) => ({ tenantId: asTenantId('acme'), conversationId: asConversationId('c'), id: asMessageId(`j${n}`), senderId: asUserId('ann'), clientMessageId: `jc${n}`, type: 'text' as const, content: `hello ${n}`, metadata: {}, attachment: null, replyTo: null, createdAt: '2026-01-01T00:00:00.000Z' });

    it('continues after the newest stored seq when its counter is behind the store', async () => {
      const { store, journal } = journalOn();
      // Messages numbered elsewhere (a Redis sequencer) and stored by a processor.
      await store.insert([1, 2, 3].map((n) => ({ ...sent(n), seq: n, editedAt: null, deletedAt: null, reactions: [] })));
      const next = await journal.accept(sent(4));
      assert.deepEqual([next.duplicate, next.message.seq], [false, 4]);
      assert.deepEqual(await journal.lastSeqs(asTenantId('acme'), [asConversationId('c')]), new Map([[asConversationId('c'), 4]]));
      assert.deepEqual((await journal.accept(sent(2))).duplicate, true, 'a repeat of a message stored that way is still a repeat');
    });

    it('keeps its seq and dedup right when a write beside it in the same commit fails', async () => {
      const { db, journal } = journalOn();
      const failing = sqliteWriter(db).write(() => {
        throw new Error('a failing write');
      });
      const [a, b, again] = await Promise.all([journal.accept(sent(1)), journal.accept(sent(2)), journal.accept(sent(1)), assert.rejects(failing, /a failing write/)]);
      assert.deepEqual([a.message.seq, b.message.seq, again.duplicate, again.message.id], [1, 2, true, a.message.id]);
      assert.deepEqual(await journal.lastSeqs(asTenantId('acme'), [asConversationId('c')]), new Map([[asConversationId('c'), 2]]));
    });

    it('sets aside an accepted row it cannot read, and deletes the old path’s rows as it accepts', async () => {
      const [db] = open();
      const tail = new SqliteMessageSequencer(db!);
      const durable = new SqliteDurableLog(db!, quiet);
      for (let n = 1; n <= 5; n++) await durable.append([(await tail.accept(sent(n))).message]);
      db!.prepare("INSERT INTO accepted (tenant_id, conversation_id, sender_id, client_message_id, seq, message, accepted_at) VALUES ('acme', 'c', 'ann', 'garbled', 6, x'c1c1', 0)").run();
      const store = new SqliteMessageStore(db!);
      const journal = new SqliteJournalSequencer(db!, store, quiet);
      assert.deepEqual((await store.page(asTenantId('acme'), asConversationId('c'), { limit: 10 })).map((m) => m.seq), [1, 2, 3, 4, 5]);
      const dead = db!.prepare<[], { record_id: string; reason: string }>('SELECT record_id, reason FROM log_dead_letters').all();
      assert.deepEqual(dead.map((d) => d.record_id), ['accepted:6']);
      assert.match(dead[0]!.reason, /undecodable/);
      const left = () => db!.prepare<[], { n: number }>('SELECT (SELECT count(*) FROM accepted) + (SELECT count(*) FROM log_records) AS n').get()!.n;
      assert.equal(left(), 11);
      await journal.accept(sent(7));
      assert.ok(left() < 11, 'an accept deletes some of them');
      for (let n = 8; n < 12; n++) await journal.accept(sent(n));
      assert.equal(left(), 0);
      assert.equal((await journal.accept(sent(3))).duplicate, true, 'a repeat is still recognised by the store once the old rows are gone');
    });
  });

  it('shares offsets and seqs between connections to one file', async () => {
    const [a, b] = open(2);
    const inboxes = [new SqliteInbox(a!), new SqliteInbox(b!)];
    const sequencers = [new SqliteMessageSequencer(a!), new SqliteMessageSequencer(b!)];
    const envelope = { v: 1, type: 'event' as const, id: 'e', tenant_id: asTenantId('acme'), timestamp: 1, payload: { action: 'x', data: null } };
    const offsets = [];
    const seqs = [];
    for (let i = 0; i < 10; i++) {
      offsets.push((await inboxes[i % 2]!.append(asTenantId('acme'), [asUserId('ann')], envelope, null, 1000)).offsets.get(asUserId('ann')));
      const draft = { tenantId: asTenantId('acme'), conversationId: asConversationId('c'), id: asMessageId(`m${i}`), senderId: asUserId('ann'), clientMessageId: `cm${i}` };
      seqs.push((await sequencers[i % 2]!.accept({ ...draft, type: 'text', content: '', metadata: {}, attachment: null, replyTo: null, createdAt: '2026-01-01T00:00:00.000Z' })).message.seq);
    }
    const oneToTen = Array.from({ length: 10 }, (_, i) => i + 1);
    assert.deepEqual([offsets, seqs], [oneToTen, oneToTen]);
  });

  it('keeps an event once, and a member’s consecutive events of one stream as one run', async () => {
    const [db] = open();
    const inbox = new SqliteInbox(db!);
    const t = asTenantId('acme');
    const members = Array.from({ length: 50 }, (_, i) => asUserId(`u${i}`));
    const envelope = (id: string) => ({ v: 1, type: 'event' as const, id, tenant_id: t, timestamp: 1, payload: { action: 'x', data: 'y'.repeat(500) } });
    for (let i = 0; i < 5; i++) await inbox.append(t, members, envelope(`g${i}`), null, 1000, 'group');
    await inbox.append(t, [asUserId('u0')], envelope('d0'), null, 1000, 'direct');
    // u1 is left out of one group event: its run of the group stream breaks there.
    await inbox.append(t, members.filter((m) => m !== asUserId('u1')), envelope('g5'), null, 1000, 'group');
    for (let i = 6; i < 10; i++) await inbox.append(t, members, envelope(`g${i}`), null, 1000, 'group');
    const count = (table: string) => db!.prepare<[], { n: number; bytes: number | null }>(`SELECT count(*) AS n, sum(length(${table === 'inbox_events' ? 'envelope' : 'stream_id'})) AS bytes FROM ${table}`).get()!;
    assert.equal(count('inbox_events').n, 11, 'one row per event, whatever its audience');
    assert.ok(count('inbox_events').bytes! < 11 * 700);
    // 48 members: one run; u0: group, direct, group; u1: group 0–4, then 6–9.
    assert.equal(count('inbox_runs').n, 48 + 3 + 2);
    const ids = async (user: string, after = 0, limit = 100) => (await inbox.read(t, asUserId(user), after, limit)).entries.map((e) => `${e.offset}:${e.envelope.id}`);
    assert.deepEqual(await ids('u0', 3, 4), ['4:g3', '5:g4', '6:d0', '7:g5']);
    assert.deepEqual(await ids('u1', 4), ['5:g4', '6:g6', '7:g7', '8:g8', '9:g9']);
    assert.deepEqual(await ids('u49'), Array.from({ length: 10 }, (_, i) => `${i + 1}:g${i}`));
  });

  it('deletes an event once no inbox holds it any more', async () => {
    const [db] = open();
    const inbox = new SqliteInbox(db!, { maxAgeMs: 1000, maxBytes: 3000 });
    const t = asTenantId('acme');
    const trio = [asUserId('a'), asUserId('b'), asUserId('c')];
    const envelope = (id: string) => ({ v: 1, type: 'event' as const, id, tenant_id: t, timestamp: 1, payload: { action: 'x', data: 'y'.repeat(900) } });
    const events = () => db!.prepare<[], { n: number }>('SELECT count(*) AS n FROM inbox_events').get()!.n;
    for (let i = 0; i < 3; i++) await inbox.append(t, trio, envelope(`old-${i}`), null, 1000, 'room');
    // Four more for `a` alone push its three oldest out over the size cap; b and c still hold them.
    for (let i = 0; i < 4; i++) await inbox.append(t, [asUserId('a')], envelope(`a-${i}`), null, 5000, 'a');
    assert.deepEqual((await inbox.read(t, asUserId('a'), 0, 10)).entries.map((e) => e.envelope.id), ['a-1', 'a-2', 'a-3']);
    assert.equal(events(), 6, 'the group events are still held by b and c; a-0 by nobody, so it is gone');
    assert.equal((await inbox.expire(5500, 1)).inboxes, 1);
    assert.equal(events(), 6, 'one of b and c still holds the group events');
    assert.equal((await inbox.expire(5500, 10)).inboxes, 1);
    assert.equal(events(), 3, 'the last inbox holding the old events let go of them');
    assert.deepEqual((await inbox.read(t, asUserId('b'), 0, 10)).entries, []);
  });

  it('reads the inboxes a file of the schema before inbox runs held, at the same offsets, and goes on numbering them', async () => {
    const file = join(dir, `delivery-${files++}.sqlite`);
    // The schema before inboxes as runs (the fourth migration).
    const old = sqliteFileAtVersion(file, 3);
    const t = 'acme';
    const raw = (id: string) => Buffer.from(encodeEnvelope({ v: 1, type: 'event', id, tenant_id: asTenantId(t), timestamp: 1, payload: { action: 'x', data: null } }));
    const shared = Number(old.prepare('INSERT INTO inbox_envelopes (envelope, at) VALUES (?, 2000)').run(raw('shared')).lastInsertRowid);
    const entry = old.prepare('INSERT INTO inbox_entries (tenant_id, user_id, offset, envelope, bytes, at, except_socket, envelope_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    // ann's first two entries had expired (her inbox starts at 3); bob's inbox is empty; cy
    // holds the envelope ann shares.
    const head = old.prepare('INSERT INTO inbox_heads (tenant_id, user_id, head, bytes) VALUES (?, ?, ?, ?)');
    head.run(t, 'ann', 4, 100);
    head.run(t, 'bob', 2, 0);
    head.run(t, 'cy', 1, 50);
    entry.run(t, 'ann', 3, raw('inline'), 50, 1000, 'sock-1', null);
    entry.run(t, 'ann', 4, Buffer.alloc(0), 50, 2000, null, shared);
    entry.run(t, 'cy', 1, Buffer.alloc(0), 50, 2000, null, shared);
    old.close();

    const db = openSqliteDatabase(file);
    dbs.push(db);
    const events = () => db.prepare<[], { refs: number }>('SELECT refs FROM inbox_events ORDER BY refs').all().map((r) => r.refs);
    assert.deepEqual(events(), [1, 2], 'the shared envelope stays one event, held by both entries');
    const inbox = new SqliteInbox(db, { maxAgeMs: 1000 });
    assert.deepEqual((await inbox.read(asTenantId(t), asUserId('cy'), 0, 10)).entries.map((e) => [e.offset, e.envelope.id]), [[1, 'shared']]);
    const read = await inbox.read(asTenantId(t), asUserId('ann'), 0, 10);
    assert.deepEqual(read.entries.map((e) => [e.offset, e.envelope.id, e.at, e.exceptSocket]), [[3, 'inline', 1000, 'sock-1'], [4, 'shared', 2000, null]]);
    assert.equal(read.lost, true, 'entries 1 and 2 are gone');
    assert.deepEqual(await inbox.read(asTenantId(t), asUserId('bob'), 2, 10), { entries: [], head: 2, lost: false });
    const next = { v: 1, type: 'event' as const, id: 'next', tenant_id: asTenantId(t), timestamp: 1, payload: { action: 'x', data: null } };
    const { offsets } = await inbox.append(asTenantId(t), [asUserId('ann'), asUserId('bob')], next, null, 3000, 'room');
    assert.deepEqual([offsets.get(asUserId('ann')), offsets.get(asUserId('bob'))], [5, 3]);
    assert.deepEqual((await inbox.read(asTenantId(t), asUserId('bob'), 0, 10)).entries.map((e) => [e.offset, e.envelope.id]), [[3, 'next']]);
    // The migrated entries age like any other: the oldest first.
    await inbox.expire(2500, 10);
    assert.deepEqual((await inbox.read(asTenantId(t), asUserId('ann'), 0, 10)).entries.map((e) => e.offset), [4, 5]);
    await inbox.expire(10_000, 10);
    assert.deepEqual(events(), [], 'every event went with the last inbox holding it');
    assert.deepEqual((await inbox.append(asTenantId(t), [asUserId('ann')], next, null, 11_000, 'room')).offsets.get(asUserId('ann')), 6);
  });
});

describe('on a real redis-server', () => {
  const redis = redisFixture();
  beforeEach(() => redis.flush());
  inboxContract('redis', async (retention) => new RedisInbox((await redis.connect()).commands, retention));
  messageSequencerContract('redis', async (options) => ({ sequencer: new RedisMessageSequencer((await redis.connect()).commands, options) }));

  it('numbers on from the store when Redis has no counter (a new conversation, or Redis lost its data), asking the store once', async () => {
    const asked: string[] = [];
    const storeHas = new Map([['c-old', 41]]);
    const sequencer = new RedisMessageSequencer((await redis.connect()).commands, {
      floor: async (_t, c) => {
        asked.push(c);
        return storeHas.get(c) ?? 0;
      },
    });
    const send = async (c: string, n: number) => {
      const draft = { tenantId: asTenantId('acme'), conversationId: asConversationId(c), id: asMessageId(`${c}-${n}`), senderId: asUserId('ann'), clientMessageId: `${c}-${n}` };
      return (await sequencer.accept({ ...draft, type: 'text', content: '', metadata: {}, attachment: null, replyTo: null, createdAt: '2026-01-01T00:00:00.000Z' })).message.seq;
    };
    assert.deepEqual([await send('c-old', 1), await send('c-old', 2), await send('c-new', 1)], [42, 43, 1]);
    assert.deepEqual(asked, ['c-old', 'c-new']);
    assert.deepEqual([...(await sequencer.lastSeqs(asTenantId('acme'), [asConversationId('c-old'), asConversationId('c-none')]))], [['c-old', 43], ['c-none', 0]]);

    await redis.flush();
    storeHas.set('c-old', 43);
    assert.equal((await sequencer.lastSeqs(asTenantId('acme'), [asConversationId('c-old')])).get(asConversationId('c-old')), 43, 'the store answers while Redis has no counter');
    assert.equal(await send('c-old', 3), 44, 'no seq is used twice after Redis lost its data');
  });
});

// Every script touches the keys of one slot; the cluster would refuse anything else (CROSSSLOT).
describe('on a real Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let connection: RedisConnections;
  before(async () => {
    cluster = await startRedisCluster();
    connection = await connectRedis({ url: cluster.url, mode: 'cluster' }, quiet);
  });
  after(async () => {
    await connection.close();
    await cluster.stop();
  });
  beforeEach(async () => {
    // FLUSHALL on every node; replicas refuse it and follow their master.
    await Promise.all(
      cluster.ports.map(async (port) => {
        const client = createClient({ url: `redis://127.0.0.1:${port}` });
        await client.connect();
        await client.flushAll().catch(() => undefined);
        await client.close();
      }),
    );
  });
  inboxContract('redis cluster', async (retention) => new RedisInbox(connection.commands, retention));
  messageSequencerContract('redis cluster', async (options) => ({ sequencer: new RedisMessageSequencer(connection.commands, options) }));
});

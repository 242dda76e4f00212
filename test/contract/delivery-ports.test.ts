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

  it('keeps an event for many users once, and deletes it once every entry that shares it has expired', async () => {
    const [db] = open();
    const inbox = new SqliteInbox(db!, { maxAgeMs: 1000 });
    const t = asTenantId('acme');
    const members = Array.from({ length: 50 }, (_, i) => asUserId(`u${i}`));
    const envelope = (id: string) => ({ v: 1, type: 'event' as const, id, tenant_id: t, timestamp: 1, payload: { action: 'x', data: 'y'.repeat(500) } });
    await inbox.append(t, members, envelope('old'), null, 1000);
    await inbox.append(t, members, envelope('new'), null, 5000);
    await inbox.append(t, [asUserId('u0')], envelope('alone'), null, 5000);
    const stored = () => db!.prepare<[], { envelopes: number; bytes: number }>('SELECT count(*) AS envelopes, sum(length(envelope)) AS bytes FROM inbox_envelopes').get()!;
    assert.equal(stored().envelopes, 2, 'one shared envelope per group event; a single user keeps it inline');
    assert.ok(stored().bytes < 2 * 700);
    const read = await inbox.read(t, asUserId('u49'), 0, 10);
    assert.deepEqual(read.entries.map((e) => [e.offset, e.envelope.id, e.at]), [[1, 'old', 1000], [2, 'new', 5000]]);
    assert.deepEqual((await inbox.read(t, asUserId('u0'), 0, 10)).entries.map((e) => e.envelope.id), ['old', 'new', 'alone']);

    let expired = 0;
    for (let round = 0; round < 10; round++) expired += (await inbox.expire(5500, 20)).inboxes;
    assert.equal(expired, 50, 'every member lost its old entry');
    assert.equal(stored().envelopes, 1, 'the old envelope went with its last entry');
    assert.deepEqual((await inbox.read(t, asUserId('u7'), 0, 10)).entries.map((e) => e.envelope.id), ['new']);
  });

  it('deletes envelopes nobody points at as new ones are kept, whatever the sweeps left behind', async () => {
    const [db] = open();
    const inbox = new SqliteInbox(db!, { maxAgeMs: 1000 });
    const t = asTenantId('acme');
    const trio = [asUserId('a'), asUserId('b'), asUserId('c')];
    const envelope = (id: string) => ({ v: 1, type: 'event' as const, id, tenant_id: t, timestamp: 1, payload: { action: 'x', data: null } });
    for (let i = 0; i < 30; i++) await inbox.append(t, trio, envelope(`old-${i}`), null, 1000);
    const envelopes = () => db!.prepare<[], { n: number }>('SELECT count(*) AS n FROM inbox_envelopes').get()!.n;
    // A sweep whose rounds delete at most 10 envelopes leaves 20 with no entry.
    assert.equal((await inbox.expire(5500, 10)).inboxes, 3);
    assert.equal(envelopes(), 20);
    for (let i = 0; i < 10; i++) await inbox.append(t, trio, envelope(`new-${i}`), null, 6000);
    assert.equal(envelopes(), 10, 'each new one took two old ones with it');
    assert.deepEqual((await inbox.read(t, asUserId('b'), 0, 100)).entries.map((e) => e.envelope.id), Array.from({ length: 10 }, (_, i) => `new-${i}`));
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

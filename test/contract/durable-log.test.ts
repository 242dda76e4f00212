import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { kafkaTopicOf, KafkaDurableLog } from '../../src/adapters/kafka/kafka-durable-log.js';
import { MemoryDurableLog, MemoryLogBroker } from '../../src/adapters/memory/memory-durable-log.js';
import { connectRedis, type RedisConnections, type RedisOptions } from '../../src/adapters/redis/redis-connection.js';
import { partitionOf, RECORD_FIELD, RedisDurableLog, redisLogKeys, type RedisDurableLogOptions } from '../../src/adapters/redis/redis-durable-log.js';
import { redisLogClient } from '../../src/adapters/redis/redis-log-client.js';
import { openSqliteDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/sqlite-database.js';
import { SqliteDurableLog } from '../../src/adapters/sqlite/sqlite-durable-log.js';
import { asConversationId } from '../../src/domain/ids.js';
import type { DurableLog } from '../../src/ports/durable-log.js';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { durableLogContract, freshTenant, gate, holdIfFrom, message, Received, type DurableLogHarness } from './durable-log.contract.js';
import { redisFixture } from './redis-fixture.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Closes the logs a harness opened, newest first. */
function tracked(): { track<T extends DurableLog>(log: T): T; closeAll(): Promise<void> } {
  const logs: DurableLog[] = [];
  return {
    track(log) {
      logs.push(log);
      return log;
    },
    async closeAll() {
      for (const log of logs.reverse()) await log.close();
    },
  };
}

describe('in memory', () => {
  durableLogContract('memory', async () => {
    const broker = new MemoryLogBroker();
    const logs = tracked();
    return {
      open: async () => logs.track(new MemoryDurableLog(quiet, broker)),
      appendRaw: async (tenantId, conversationId, raw) => broker.appendRaw(`${tenantId}/${conversationId}`, raw),
      deadLetters: async () => [...broker.deadLetters],
      close: () => logs.closeAll(),
    };
  });
});

describe('in SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-log-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;

  const harness = async (): Promise<DurableLogHarness> => {
    const file = join(dir, `log-${files++}.sqlite`);
    // Each open() is a connection of its own, as another process sharing the file would have.
    const dbs: SqliteDatabase[] = [openSqliteDatabase(file)];
    const logs = tracked();
    return {
      async open() {
        const db = openSqliteDatabase(file);
        dbs.push(db);
        return logs.track(new SqliteDurableLog(db, quiet, { pollIntervalMs: 20 }));
      },
      async appendRaw(tenantId, conversationId, raw) {
        dbs[0]!.prepare('INSERT INTO log_records (tenant_id, conversation_id, record, appended_at) VALUES (?, ?, ?, ?)').run(tenantId, conversationId, raw, Date.now());
      },
      async deadLetters() {
        return dbs[0]!
          .prepare<[], { record_id: string; reason: string; record: Buffer }>('SELECT record_id, reason, record FROM log_dead_letters ORDER BY id')
          .all()
          .map((r) => ({ recordId: r.record_id, reason: r.reason, raw: r.record }));
      },
      async close() {
        await logs.closeAll();
        for (const db of dbs) db.close();
      },
    };
  };

  durableLogContract('sqlite', harness);

  it('finds the records another process appended to the file', async () => {
    const h = await harness();
    try {
      const tenant = freshTenant();
      const [consuming, appending] = [await h.open(), await h.open()];
      const got = new Received(10_000);
      const consumer = consuming.consume({ group: 'processors', consumer: 'a', batchSize: 10 }, got.handler('a'));
      await appending.append([message(tenant, 'c1', 1)]);
      await got.until(() => got.messages(tenant).length >= 1, 'the record from the other connection');
      await appending.append([message(tenant, 'c1', 2)]);
      await got.until(() => got.messages(tenant).length >= 2, 'the second one');
      await consumer.stop();
    } finally {
      await h.close();
    }
  });
});

/** A harness whose every open() is a new connection, as another server process would have. */
function redisHarness(connect: () => Promise<RedisConnections>, mode: RedisOptions['mode']) {
  return async (options: Partial<RedisDurableLogOptions> = {}): Promise<DurableLogHarness> => {
    const logs = tracked();
    const admin = redisLogClient((await connect()).pubClient, mode);
    return {
      open: async () => logs.track(new RedisDurableLog(redisLogClient((await connect()).pubClient, mode), quiet, { blockMs: 500, ...options })),
      async appendRaw(tenantId, conversationId, raw) {
        const key = redisLogKeys.partition(partitionOf(tenantId, conversationId, 16));
        await admin.send(key, ['XADD', key, '*', RECORD_FIELD, Buffer.from(raw)]);
      },
      async deadLetters() {
        const entries = (await admin.send(redisLogKeys.deadLetters, ['XRANGE', redisLogKeys.deadLetters, '-', '+'])) as [Buffer, Buffer[]][];
        return entries.map(([, fields]) => {
          const field = (name: string) => fields[fields.findIndex((f, i) => i % 2 === 0 && f.toString() === name) + 1]!;
          return { recordId: field('id').toString(), reason: field('reason').toString(), raw: field(RECORD_FIELD) };
        });
      },
      close: () => logs.closeAll(),
    };
  };
}

describe('on a real redis-server', () => {
  const redis = redisFixture();
  beforeEach(() => redis.flush());
  const harness = redisHarness(() => redis.connect(), 'single');

  durableLogContract('redis', () => harness());

  it('hands the entries a dead member left pending to another member after claimIdleMs', async () => {
    const h = await harness({ claimIdleMs: 300 });
    const never = gate();
    try {
      const tenant = freshTenant();
      const first = await h.open();
      await first.append([1, 2, 3].map((seq) => message(tenant, 'c1', seq)));
      const lost = new Received(10_000);
      first.consume({ group: 'processors', consumer: 'dead', batchSize: 10 }, lost.handler('dead', { after: holdIfFrom(tenant, never.wait) }));
      await lost.until(() => lost.messages(tenant).length >= 3, 'the first delivery');
      await first.close();
      // The entries are idle from here: the dead member's heartbeats stopped with its connection.
      const startedAt = Date.now();

      const second = await h.open();
      const taken = new Received(10_000);
      const consumer = second.consume({ group: 'processors', consumer: 'alive', batchSize: 10 }, taken.handler('alive'));
      await taken.until(() => taken.messages(tenant).length >= 3, 'the takeover');
      await consumer.stop();
      assert.deepEqual(taken.messages(tenant).map((m) => m.seq), [1, 2, 3]);
      assert.ok(Date.now() - startedAt >= 200, 'not before the entries were idle long enough');
    } finally {
      never.open();
      await h.close();
    }
  });

  it('does not let another member take over a live member’s batch that takes longer than claimIdleMs', async () => {
    const h = await harness({ claimIdleMs: 600 });
    try {
      const tenant = freshTenant();
      const log = await h.open();
      await log.append([1, 2, 3].map((seq) => message(tenant, 'c1', seq)));
      const got = new Received(10_000);
      // The work itself takes four times claimIdleMs; heartbeats keep the entries fresh meanwhile.
      const slowWork = () => new Promise<void>((resolve) => setTimeout(resolve, 2400));
      const slow = log.consume({ group: 'processors', consumer: 'slow', batchSize: 10 }, got.handler('slow', { after: holdIfFrom(tenant, slowWork) }));
      await got.until(() => got.messages(tenant, 'slow').length >= 3, 'the slow member’s batch');
      const other = log.consume({ group: 'processors', consumer: 'other', batchSize: 10 }, got.handler('other'));
      await slow.stop();
      await other.stop();
      assert.deepEqual(got.messages(tenant, 'other'), []);
    } finally {
      await h.close();
    }
  });
});

describe('on a real Redis Cluster', () => {
  let cluster: TestRedisCluster;
  const open: RedisConnections[] = [];
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await cluster.stop();
  });
  const connect = async () => {
    const c = await connectRedis({ url: cluster.url, mode: 'cluster' }, quiet);
    open.push(c);
    return c;
  };
  // Not flushed between tests: every test has a tenant and groups of its own.
  const harness = redisHarness(connect, 'cluster');
  durableLogContract('redis cluster', () => harness());
});

const brokers = process.env.SWITCHBOARD_KAFKA_BROKERS;
describe('on Kafka', { skip: brokers ? false : 'SWITCHBOARD_KAFKA_BROKERS is not set: no Kafka broker on this machine' }, () => {
  const kafkaConfig = { brokers: (brokers ?? '').split(',').map((b) => b.trim()), clientId: 'switchboard-contract', logLevel: logLevel.NOTHING };
  const kafka = new Kafka(kafkaConfig);
  let producer: Producer | undefined;
  let deadReader: Consumer | undefined;
  const parked: { recordId: string; reason: string; raw: Uint8Array }[] = [];
  after(async () => {
    await producer?.disconnect();
    await deadReader?.disconnect();
  });

  /** Reads the dead-letter topic from the start, once, for every test. */
  const readDeadLetters = async () => {
    if (deadReader) return;
    deadReader = kafka.consumer({ groupId: `dead-reader-${Date.now()}` });
    await deadReader.connect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'messages.dead-letter', numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    await deadReader.subscribe({ topics: ['messages.dead-letter'], fromBeginning: true });
    await deadReader.run({
      eachMessage: async ({ message: m }) => {
        parked.push({ recordId: String(m.headers?.['record-id'] ?? ''), reason: String(m.headers?.reason ?? ''), raw: m.value ?? new Uint8Array() });
      },
    });
  };

  durableLogContract(
    'kafka',
    async () => {
      const logs = tracked();
      return {
        open: async () => logs.track(new KafkaDurableLog({ kafka: kafkaConfig, topicRefreshMs: 1000, topicPartitions: 4 }, quiet)),
        async appendRaw(tenantId, conversationId, raw) {
          const topic = kafkaTopicOf(tenantId);
          const admin = kafka.admin();
          await admin.connect();
          await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
          await admin.disconnect();
          if (!producer) {
            producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
            await producer.connect();
          }
          await producer.send({ topic, acks: -1, messages: [{ key: asConversationId(conversationId), value: Buffer.from(raw) }] });
        },
        async deadLetters() {
          await readDeadLetters();
          return [...parked];
        },
        close: () => logs.closeAll(),
      };
    },
    { timeoutMs: 60_000, membersShareFromTheStart: false },
  );
});

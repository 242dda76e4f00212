import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { MemoryDurableLog } from '../src/adapters/memory/memory-durable-log.js';
import { MemoryMessageSequencer } from '../src/adapters/memory/memory-message-sequencer.js';
import { MemoryMessageStore } from '../src/adapters/memory/memory-message-store.js';
import { openPostgres } from '../src/adapters/postgres/postgres-database.js';
import { PostgresMessageStore } from '../src/adapters/postgres/postgres-message-store.js';
import { connectRedis, type RedisConnections } from '../src/adapters/redis/redis-connection.js';
import { RedisDurableLog } from '../src/adapters/redis/redis-durable-log.js';
import { redisLogClient } from '../src/adapters/redis/redis-log-client.js';
import { RedisMessageSequencer } from '../src/adapters/redis/redis-message-sequencer.js';
import { openSqliteDatabase, type SqliteDatabase } from '../src/adapters/sqlite/sqlite-database.js';
import { SqliteDurableLog } from '../src/adapters/sqlite/sqlite-durable-log.js';
import { SqliteMessageSequencer } from '../src/adapters/sqlite/sqlite-message-sequencer.js';
import { SqliteMessageStore } from '../src/adapters/sqlite/sqlite-message-store.js';
import { MessageProcessor, PROCESSOR_DEFAULTS } from '../src/core/processor/message-processor.js';
import { asConversationId, asMessageId, asTenantId, asUserId } from '../src/domain/ids.js';
import type { Message } from '../src/domain/model.js';
import type { DurableLog } from '../src/ports/durable-log.js';
import type { Logger } from '../src/ports/logger.js';
import type { MessageSequencer } from '../src/ports/message-sequencer.js';
import type { MessageStore } from '../src/ports/message-store.js';
import { startRedis, type TestRedis } from '../test/helpers/redis-server.js';
import { dataDirectory } from './delivery-processes.js';

/*
 * Part 3 of the delivery benchmark: M messages accepted by the log's own sequencer and
 * appended to a durable log in this process, then one MessageProcessor (the production
 * defaults: batches of 500) drains them into a store. Timed from the processor's start to
 * the last message stored; the time inside store.insert and sequencer.stored is measured
 * separately, the rest being the log's reads, commits and record decoding.
 */

const POSTGRES_URL = process.env.SWITCHBOARD_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

type LogKind = 'embedded (SQLite)' | 'redis (Streams)' | 'memory (reference)';
type StoreKind = 'memory' | 'sqlite' | 'postgres' | 'mongodb';

/** A logger that keeps warnings and errors, so the report can show them. */
function countingLogger(): Logger & { problems: string[] } {
  const problems: string[] = [];
  const keep = (context: object, message?: string) => {
    if (problems.length < 5) problems.push(`${message ?? ''} ${JSON.stringify(context).slice(0, 200)}`);
  };
  return { problems, debug: () => undefined, info: () => undefined, warn: keep, error: keep };
}

/** Wraps `target` so that the time spent in `method` adds up in `spent.ms`. */
function timed<T extends object>(target: T, method: keyof T & string, spent: { ms: number }): T {
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (prop !== method) return fn.bind(t);
      return async (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return await fn.apply(t, args);
        } finally {
          spent.ms += performance.now() - t0;
        }
      };
    },
  });
}

/** A database of ours on the local PostgreSQL server, dropped by `drop`; one fresh schema per run. */
async function benchDatabase(): Promise<{ freshSchema(): Promise<string>; drop(): Promise<void> }> {
  const name = `switchboard_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  let schemas = 0;
  return {
    async freshSchema() {
      const schema = `run_${++schemas}`;
      const c = new pg.Client({ connectionString: url.href });
      await c.connect();
      await c.query(`CREATE SCHEMA ${schema}`).finally(() => c.end());
      const inSchema = new URL(url);
      inSchema.searchParams.set('options', `-c search_path=${schema}`);
      return inSchema.href;
    },
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** What a run needs, and how to let go of it. */
interface Resources {
  log: DurableLog;
  sequencer: MessageSequencer;
  store: MessageStore;
  close(): Promise<void>;
}

interface Shared {
  redis: TestRedis | null;
  postgres: Awaited<ReturnType<typeof benchDatabase>> | null;
}

async function open(logKind: LogKind, storeKind: Exclude<StoreKind, 'mongodb'>, shared: Shared, logger: Logger): Promise<Resources> {
  const closers: (() => Promise<unknown> | void)[] = [];
  const dir = dataDirectory();
  closers.push(() => dir.dispose());
  let sqlite: SqliteDatabase | null = null;
  // One file for whatever is SQLite in this run, as the server's delivery backend does.
  const db = (): SqliteDatabase => {
    if (!sqlite) {
      const opened = openSqliteDatabase(join(dir.path, 'switchboard.db'));
      closers.unshift(() => void opened.close());
      sqlite = opened;
    }
    return sqlite;
  };
  let log: DurableLog;
  let sequencer: MessageSequencer;
  if (logKind === 'embedded (SQLite)') {
    log = new SqliteDurableLog(db(), logger);
    sequencer = new SqliteMessageSequencer(db());
  } else if (logKind === 'redis (Streams)') {
    const redis = shared.redis!;
    const conns: RedisConnections = await connectRedis({ url: redis.url, mode: 'single' }, logger);
    closers.unshift(() => conns.close());
    const client = redisLogClient(conns.pubClient, 'single');
    await client.send('', ['FLUSHALL']);
    log = new RedisDurableLog(client, logger);
    sequencer = new RedisMessageSequencer(conns.commands);
  } else {
    log = new MemoryDurableLog(logger);
    sequencer = new MemoryMessageSequencer();
  }
  closers.unshift(() => log.close());
  let store: MessageStore;
  if (storeKind === 'memory') store = new MemoryMessageStore();
  else if (storeKind === 'sqlite') store = new SqliteMessageStore(db());
  else {
    const pool = await openPostgres(await shared.postgres!.freshSchema());
    closers.unshift(() => pool.end());
    store = new PostgresMessageStore(pool);
  }
  return {
    log,
    sequencer,
    store,
    async close() {
      for (const c of closers) await c();
    },
  };
}

export interface ProcessorBenchOptions {
  messages: number;
  conversations: number;
  /** Log × store combinations to run. */
  runs: { log: LogKind; store: StoreKind }[];
}

export type ProcessorRow = Record<string, string | number>;

/** Accepts `count` messages through the sequencer and appends them to the log; resolves with the append rate. */
async function fill(r: Resources, count: number, conversations: number): Promise<number> {
  const tenantId = asTenantId('bench');
  const CHUNK = 500;
  let appendMs = 0;
  for (let i = 0; i < count; i += CHUNK) {
    const accepted = await Promise.all(
      Array.from({ length: Math.min(CHUNK, count - i) }, (_, k) => {
        const n = i + k;
        const c = n % conversations;
        return r.sequencer.accept({
          tenantId,
          conversationId: asConversationId(`c${c}`),
          id: asMessageId(`m${String(n).padStart(8, '0')}`),
          senderId: asUserId(`u${c}-${n % 2}`),
          clientMessageId: `cm${n}`,
          type: 'text',
          content: `message ${n} of the processor benchmark, about sixty bytes`,
          metadata: {},
          attachment: null,
          replyTo: null,
          createdAt: new Date().toISOString(),
        });
      }),
    );
    const batch: Message[] = accepted.map((a) => a.message);
    const t0 = performance.now();
    await r.log.append(batch);
    appendMs += performance.now() - t0;
  }
  return count / (appendMs / 1000);
}

async function runOne(logKind: LogKind, storeKind: Exclude<StoreKind, 'mongodb'>, options: ProcessorBenchOptions, shared: Shared): Promise<ProcessorRow> {
  const logger = countingLogger();
  const r = await open(logKind, storeKind, shared, logger);
  try {
    const appendRate = await fill(r, options.messages, options.conversations);
    const insert = { ms: 0 };
    const stored = { ms: 0 };
    const processor = new MessageProcessor(r.log, timed(r.store, 'insert', insert), timed(r.sequencer, 'stored', stored), logger, { ...PROCESSOR_DEFAULTS, consumer: 'delivery-bench' });
    const t0 = performance.now();
    processor.start();
    const deadline = Date.now() + 60_000;
    while (processor.counts.stored + processor.counts.repeats + processor.counts.deadLetters < options.messages && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const ms = performance.now() - t0;
    await processor.stop();
    const { batches, stored: inserted, repeats, deadLetters } = processor.counts;
    const complete = inserted + repeats + deadLetters >= options.messages;
    return {
      log: logKind,
      store: storeKind,
      messages: inserted,
      'append msg/s': Math.round(appendRate),
      'drain msg/s': complete ? Math.round(options.messages / (ms / 1000)) : `incomplete after ${Math.round(ms)} ms`,
      'drain ms': Math.round(ms),
      batches,
      'msgs/batch': batches ? Math.round(options.messages / batches) : 0,
      'in store.insert ms': Math.round(insert.ms),
      'in sequencer.stored ms': Math.round(stored.ms),
      'log read/commit/decode ms': Math.round(ms - insert.ms - stored.ms),
      notes: [repeats ? `${repeats} repeats` : '', deadLetters ? `${deadLetters} dead letters` : '', ...logger.problems].filter(Boolean).join('; ') || '',
    };
  } finally {
    await r.close();
  }
}

/** Runs every requested (log, store) drain; PostgreSQL and Redis are set up once and removed at the end. */
export async function processorBench(options: ProcessorBenchOptions): Promise<ProcessorRow[]> {
  const shared: Shared = { redis: null, postgres: null };
  let postgresError: string | null = null;
  const rows: ProcessorRow[] = [];
  try {
    if (options.runs.some((r) => r.log === 'redis (Streams)')) shared.redis = await startRedis();
    if (options.runs.some((r) => r.store === 'postgres')) {
      shared.postgres = await benchDatabase().catch((err: unknown) => {
        postgresError = err instanceof Error ? err.message : String(err);
        return null;
      });
    }
    for (const run of options.runs) {
      const skip = (why: string) => rows.push({ log: run.log, store: run.store, messages: 0, 'append msg/s': '—', 'drain msg/s': why, 'drain ms': '—', batches: '—', 'msgs/batch': '—', 'in store.insert ms': '—', 'in sequencer.stored ms': '—', 'log read/commit/decode ms': '—', notes: '' });
      if (run.store === 'mongodb') {
        skip('not run: MongoDB cannot run here (no server on this machine)');
        continue;
      }
      if (run.store === 'postgres' && !shared.postgres) {
        skip(`not run: PostgreSQL unreachable (${postgresError ?? 'unknown'})`);
        continue;
      }
      rows.push(await runOne(run.log, run.store, options, shared));
    }
  } finally {
    await shared.postgres?.drop();
    await shared.redis?.stop();
  }
  return rows;
}

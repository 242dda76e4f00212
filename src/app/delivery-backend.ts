import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryConversationStore } from '../adapters/memory/memory-conversation-store.js';
import { MemoryDurableLog } from '../adapters/memory/memory-durable-log.js';
import { MemoryInbox } from '../adapters/memory/memory-inbox.js';
import { MemoryMessageSequencer } from '../adapters/memory/memory-message-sequencer.js';
import { MemoryMessageStore } from '../adapters/memory/memory-message-store.js';
import type { RedisConnections } from '../adapters/redis/redis-connection.js';
import { RedisInbox } from '../adapters/redis/redis-inbox.js';
import { RedisMessageSequencer } from '../adapters/redis/redis-message-sequencer.js';
import { openSqliteDatabase, type SqliteDatabase } from '../adapters/sqlite/sqlite-database.js';
import { SqliteCheckpointer } from '../adapters/sqlite/sqlite-checkpointer.js';
import { sqliteWriter } from '../adapters/sqlite/sqlite-writer.js';
import { SqliteConversationStore } from '../adapters/sqlite/sqlite-conversation-store.js';
import { SqliteDurableLog } from '../adapters/sqlite/sqlite-durable-log.js';
import { SqliteInbox } from '../adapters/sqlite/sqlite-inbox.js';
import { SqliteJournalSequencer } from '../adapters/sqlite/sqlite-journal-sequencer.js';
import { SqliteMessageSequencer } from '../adapters/sqlite/sqlite-message-sequencer.js';
import { SqliteMessageStore } from '../adapters/sqlite/sqlite-message-store.js';
import type { ConversationStore } from '../ports/conversation-store.js';
import type { DurableLog } from '../ports/durable-log.js';
import type { Inbox } from '../ports/inbox.js';
import type { MessageSequencer } from '../ports/message-sequencer.js';
import type { MessageStore } from '../ports/message-store.js';
import type { Logger } from 'pino';
import type { Config } from './config.js';

/** Where conversations and messages live, and the path a message takes to get there. */
export interface DeliveryBackend {
  conversations: ConversationStore;
  messages: MessageStore;
  sequencer: MessageSequencer;
  inbox: Inbox;
  log: DurableLog;
  close(): Promise<void>;
}

/**
 * The one place that picks the stores, the sequencer, the inboxes and the durable log
 * (DESIGN.md §2). SQLite, when any part needs it, is one file in the data directory; parts
 * that must be shared by every server use Redis when the cluster runs on Redis.
 */
export async function createDeliveryBackend(config: Config, redis: RedisConnections | null, logger: Logger): Promise<DeliveryBackend> {
  const closers: (() => Promise<void> | void)[] = [];
  let sqlite: SqliteDatabase | null = null;
  const db = (): SqliteDatabase => {
    if (!sqlite) {
      mkdirSync(config.dataDir, { recursive: true });
      const file = join(config.dataDir, 'switchboard.db');
      const opened = openSqliteDatabase(file);
      const checkpointer = new SqliteCheckpointer(opened, file, logger);
      closers.push(async () => {
        // Writes still queued for the next group commit go in before the file closes.
        sqliteWriter(opened).flush();
        await checkpointer.stop();
        opened.close();
      });
      sqlite = opened;
    }
    return sqlite;
  };
  const memory = config.store.kind === 'memory';
  const retention = config.delivery.inbox;

  let conversations: ConversationStore;
  let messages: MessageStore;
  /** The SQLite store, when messages live in the SQLite file. */
  let sqliteMessages: SqliteMessageStore | null = null;
  const store = config.store;
  switch (store.kind) {
    case 'sqlite':
      conversations = new SqliteConversationStore(db());
      messages = sqliteMessages = new SqliteMessageStore(db());
      break;
    case 'memory':
      conversations = new MemoryConversationStore();
      messages = new MemoryMessageStore();
      break;
    // Drivers of the backends not configured are not loaded.
    case 'postgres': {
      const { openPostgres } = await import('../adapters/postgres/postgres-database.js');
      const { PostgresConversationStore } = await import('../adapters/postgres/postgres-conversation-store.js');
      const { PostgresMessageStore } = await import('../adapters/postgres/postgres-message-store.js');
      const pool = await openPostgres(store.url);
      closers.push(() => pool.end());
      conversations = new PostgresConversationStore(pool);
      messages = new PostgresMessageStore(pool);
      break;
    }
    case 'mongodb': {
      const { openMongo } = await import('../adapters/mongo/mongo-database.js');
      const { MongoConversationStore } = await import('../adapters/mongo/mongo-conversation-store.js');
      const { MongoMessageStore } = await import('../adapters/mongo/mongo-message-store.js');
      const mongo = await openMongo(store.url);
      closers.push(() => mongo.client.close());
      conversations = new MongoConversationStore(mongo.db);
      messages = new MongoMessageStore(mongo.db);
      break;
    }
    default: {
      const unknown: never = store;
      throw new Error(`Unknown store '${JSON.stringify(unknown)}'`);
    }
  }

  let log: DurableLog;
  const logKind = config.log;
  switch (logKind.kind) {
    case 'embedded':
      log = memory ? new MemoryDurableLog(logger) : new SqliteDurableLog(db(), logger);
      break;
    case 'redis': {
      if (!redis || config.cluster.kind !== 'redis') throw new Error('SWITCHBOARD_LOG=redis needs SWITCHBOARD_REDIS_URL');
      const { RedisDurableLog } = await import('../adapters/redis/redis-durable-log.js');
      const { redisLogClient } = await import('../adapters/redis/redis-log-client.js');
      log = new RedisDurableLog(redisLogClient(redis.pubClient, config.cluster.mode), logger);
      break;
    }
    case 'kafka': {
      const { KafkaDurableLog } = await import('../adapters/kafka/kafka-durable-log.js');
      log = new KafkaDurableLog({ kafka: { brokers: logKind.brokers, clientId: 'switchboard' } }, logger);
      break;
    }
    default: {
      const unknown: never = logKind;
      throw new Error(`Unknown durable log '${JSON.stringify(unknown)}'`);
    }
  }
  closers.unshift(() => log.close());

  // Sequence numbers and inboxes must be shared by every server: in Redis when the cluster
  // runs on it (the embedded log keeps sequencing next to itself in SQLite, in one file).
  // When the embedded log and the store are that one file, accepting a message stores it:
  // the embedded journal (docs/decisions/005).
  let sequencer: MessageSequencer;
  if (memory) sequencer = new MemoryMessageSequencer();
  else if (redis && logKind.kind !== 'embedded') sequencer = new RedisMessageSequencer(redis.commands, { floor: async (t, c) => (await messages.page(t, c, { limit: 1 }))[0]?.seq ?? 0 });
  else if (logKind.kind === 'embedded' && sqliteMessages) sequencer = new SqliteJournalSequencer(db(), sqliteMessages, logger);
  else sequencer = new SqliteMessageSequencer(db());
  const inbox: Inbox = redis ? new RedisInbox(redis.commands, retention) : memory ? new MemoryInbox(retention) : new SqliteInbox(db(), retention);

  return {
    conversations,
    messages,
    sequencer,
    inbox,
    log,
    async close() {
      for (const c of closers) await c();
    },
  };
}

import { MongoBulkWriteError, MongoClient, MongoServerError, type AnyBulkWriteOperation, type Collection, type CollectionOptions, type Db, type Document, type MongoClientOptions } from 'mongodb';
import type { ConversationDocument, MemberDocument, MessageDocument, ReadCursorDocument } from './mongo-documents.js';

/** The database used when the URL names none. */
export const DEFAULT_MONGO_DATABASE = 'switchboard';

export interface MongoDatabase {
  readonly client: MongoClient;
  readonly db: Db;
  /** Closes the client and its connection pool. */
  close(): Promise<void>;
}

export interface OpenMongoOptions {
  /** The database to use. Default: the URL's path, else `switchboard`. */
  dbName?: string;
  /** Passed to the driver as they are. Default: the driver's defaults (and the URL's options). */
  client?: MongoClientOptions;
}

/**
 * Connects to MongoDB and makes sure every index the stores rely on exists. Index creation
 * is idempotent, so every server and processor may run it at start; an index that exists
 * under the same name with other options fails the start loudly instead of being replaced.
 */
export async function openMongo(url: string, options: OpenMongoOptions = {}): Promise<MongoDatabase> {
  const client = new MongoClient(url, options.client);
  await client.connect();
  try {
    const db = client.db(options.dbName ?? databaseNameOf(url));
    await ensureIndexes(db);
    return { client, db, close: () => client.close() };
  } catch (err) {
    await client.close();
    throw err;
  }
}

/**
 * The database named by a `mongodb://` or `mongodb+srv://` URL's path, else `switchboard`.
 * (The driver itself would fall back to `test`.) Hosts cannot contain `/` and credentials
 * must percent-encode it, so the path starts at the first `/` after `//`.
 */
export function databaseNameOf(url: string): string {
  const path = /^mongodb(?:\+srv)?:\/\/[^/?#]*\/([^?#]*)/i.exec(url)?.[1] ?? '';
  return path === '' ? DEFAULT_MONGO_DATABASE : decodeURIComponent(path);
}

/**
 * Written as JSON is by the other stores: an `undefined` inside metadata is left out rather
 * than stored as null.
 */
const COLLECTION_OPTIONS: CollectionOptions = { ignoreUndefined: true };

/** The stores' collections, typed by their documents. */
export function collectionsOf(db: Db) {
  return {
    conversations: db.collection<ConversationDocument>('conversations', COLLECTION_OPTIONS),
    members: db.collection<MemberDocument>('members', COLLECTION_OPTIONS),
    messages: db.collection<MessageDocument>('messages', COLLECTION_OPTIONS),
    readCursors: db.collection<ReadCursorDocument>('readCursors', COLLECTION_OPTIONS),
  };
}

export type MongoCollections = ReturnType<typeof collectionsOf>;

/** Creates the stores' indexes (a no-op for those that exist). Every one is scoped by tenant first. */
export async function ensureIndexes(db: Db): Promise<void> {
  const c = collectionsOf(db);
  await Promise.all([
    c.messages.createIndexes([
      { key: { tenantId: 1, conversationId: 1, id: 1 }, name: 'messages_by_id', unique: true },
      // Also the paging index: history and sendersBetween are ranges of seq within a conversation.
      { key: { tenantId: 1, conversationId: 1, seq: 1 }, name: 'messages_by_seq', unique: true },
      { key: { tenantId: 1, conversationId: 1, senderId: 1, clientMessageId: 1 }, name: 'messages_dedup', unique: true },
    ]),
    c.conversations.createIndexes([
      { key: { tenantId: 1, id: 1 }, name: 'conversations_by_id', unique: true },
      { key: { tenantId: 1, directKey: 1 }, name: 'conversations_direct', unique: true, partialFilterExpression: { directKey: { $type: 'string' } } },
    ]),
    c.members.createIndexes([
      { key: { tenantId: 1, conversationId: 1, userId: 1 }, name: 'members_by_conversation', unique: true },
      { key: { tenantId: 1, userId: 1 }, name: 'members_by_user' },
    ]),
    c.readCursors.createIndexes([
      { key: { tenantId: 1, conversationId: 1, userId: 1 }, name: 'read_cursors_by_user', unique: true },
    ]),
  ]);
}

/** Duplicate key codes: 11000, and 11001 from old servers' updates. */
const DUPLICATE_KEY = new Set([11000, 11001]);

/** A write refused by a unique index. */
export function isDuplicateKeyError(err: unknown): boolean {
  return err instanceof MongoServerError && typeof err.code === 'number' && DUPLICATE_KEY.has(err.code);
}

/**
 * Runs upserts unordered and returns the indexes (into `ops`) of those that inserted a
 * document. An upsert refused by a unique index is an entry that is already there, not a
 * failure; any other error is thrown.
 *
 * The driver splits a large bulk into batches and stops after the first batch with a write
 * error, even unordered, so the operations that did not settle are run again until all have.
 * Re-running one that matched is harmless: it only sets fields on insert.
 */
export async function bulkUpsert<T extends Document>(collection: Pick<Collection<T>, 'bulkWrite'>, ops: readonly AnyBulkWriteOperation<T>[]): Promise<Set<number>> {
  const inserted = new Set<number>();
  let pending = ops.map((_, i) => i);
  while (pending.length > 0) {
    const batch = pending;
    try {
      const result = await collection.bulkWrite(batch.map((i) => ops[i]!), { ordered: false });
      for (const k of Object.keys(result.upsertedIds)) inserted.add(batch[Number(k)]!);
      return inserted;
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError)) throw err;
      const writeErrors = err.result.getWriteErrors();
      if (writeErrors.length === 0 || err.result.getWriteConcernError() || !writeErrors.every((e) => DUPLICATE_KEY.has(e.code))) throw err;
      const settled = new Set(writeErrors.map((e) => e.index));
      for (const k of Object.keys(err.result.upsertedIds)) {
        settled.add(Number(k));
        inserted.add(batch[Number(k)]!);
      }
      pending = batch.filter((_, k) => !settled.has(k));
    }
  }
  return inserted;
}

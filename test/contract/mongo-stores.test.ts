import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MongoConversationStore } from '../../src/adapters/mongo/mongo-conversation-store.js';
import { openMongo, type MongoDatabase } from '../../src/adapters/mongo/mongo-database.js';
import { MongoMessageStore } from '../../src/adapters/mongo/mongo-message-store.js';
import { asConversationId, asTenantId, asUserId } from '../../src/domain/ids.js';
import { storesContract } from './stores.contract.js';

/** A server to test against, e.g. mongodb://127.0.0.1:27017. Each store pair gets its own database, dropped at the end. */
const url = process.env.SWITCHBOARD_MONGODB_URL;

describe('in MongoDB', { skip: url ? false : 'SWITCHBOARD_MONGODB_URL is not set: no MongoDB server on this machine' }, () => {
  if (!url) return;
  const run = `${process.pid}_${Date.now().toString(36)}`;
  const open: MongoDatabase[] = [];
  const fresh = async (): Promise<MongoDatabase> => {
    const mongo = await openMongo(url, { dbName: `switchboard_test_${run}_${open.length}` });
    open.push(mongo);
    return mongo;
  };
  after(async () => {
    await Promise.all(open.map(async (mongo) => {
      await mongo.db.dropDatabase();
      await mongo.close();
    }));
  });

  storesContract('mongodb', async () => {
    const { db } = await fresh();
    return { conversations: new MongoConversationStore(db), messages: new MongoMessageStore(db) };
  });

  it('creates its indexes once: a second start on the same database finds them in place', async () => {
    const first = await fresh();
    const again = await openMongo(url, { dbName: first.db.databaseName });
    await again.close();
    const names = async (collection: string) => (await first.db.collection(collection).indexes()).map((i) => i.name).sort();
    assert.deepEqual(await names('messages'), ['_id_', 'messages_by_id', 'messages_by_seq', 'messages_dedup']);
    assert.deepEqual(await names('conversations'), ['_id_', 'conversations_by_id', 'conversations_direct']);
    assert.deepEqual(await names('members'), ['_id_', 'members_by_conversation', 'members_by_user']);
  });

  it('keeps one direct conversation per pair when both users create it at once, without stray members', async () => {
    const { db } = await fresh();
    const store = new MongoConversationStore(db);
    const tenantId = asTenantId('acme');
    const at = '2026-11-22T10:00:00.000Z';
    const results = await Promise.all(['ann', 'bob', 'ann', 'bob', 'ann'].map((by, i) => store.create(
      { tenantId, id: asConversationId(`d${i}`), type: 'direct', name: null, isPublic: false, metadata: {}, createdBy: asUserId(by), createdAt: at },
      [by, by === 'ann' ? 'bob' : 'ann'].map((u) => ({ userId: asUserId(u), role: 'member' as const, joinedAt: at })),
    )));
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(new Set(results.map((r) => r.conversation.id)).size, 1);
    assert.deepEqual(await db.collection('members').distinct('conversationId'), [results[0]!.conversation.id]);
    assert.deepEqual((await store.listForUser(tenantId, asUserId('bob'))).map((c) => c.id), [results[0]!.conversation.id]);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Binary, BSON, MongoBulkWriteError, MongoServerError, type AnyBulkWriteOperation, type BulkWriteResult, type WriteError } from 'mongodb';
import { bulkUpsert, databaseNameOf, isDuplicateKeyError } from '../../src/adapters/mongo/mongo-database.js';
import {
  directKeyOf, fromConversationDocument, fromMemberDocument, fromMessageDocument, fromReadCursorDocument, groupReactions, toConversationDocument, toMessageDocument,
  type ConversationDocument,
} from '../../src/adapters/mongo/mongo-documents.js';
import { asConversationId, asMessageId, asTenantId, asUserId } from '../../src/domain/ids.js';
import type { Member, Message } from '../../src/domain/model.js';
import type { NewConversation } from '../../src/ports/conversation-store.js';

const at = (minute: number) => `2026-11-22T10:${String(minute).padStart(2, '0')}:00.000Z`;
const member = (user: string): Member => ({ userId: asUserId(user), role: 'member', joinedAt: at(0) });

const message = (o: Partial<Message> = {}): Message => ({
  tenantId: asTenantId('acme'), conversationId: asConversationId('room'), id: asMessageId('m1'), seq: 1, senderId: asUserId('ann'), clientMessageId: 'c1',
  type: 'text', content: 'hello', metadata: {}, attachment: null, replyTo: null, createdAt: at(0), editedAt: null, deletedAt: null, reactions: [], ...o,
});

const conversation = (o: Partial<NewConversation> = {}): NewConversation => ({
  tenantId: asTenantId('acme'), id: asConversationId('g1'), type: 'group', name: 'g1', isPublic: false, metadata: { topic: 'x' }, createdBy: asUserId('ann'), createdAt: at(0), ...o,
});

/** What the driver does to a document on its way to the server and back. */
function throughBson<T>(doc: T): T {
  return BSON.deserialize(BSON.serialize(doc as BSON.Document)) as T;
}

describe('MongoDB message documents', () => {
  it('round-trips a message through BSON with metadata, reply, attachment and reactions intact', () => {
    const original = message({
      metadata: { k: [1, 'two'], nested: { ok: true } },
      attachment: new Uint8Array([0, 255, 7]),
      replyTo: asMessageId('m0'),
      type: 'media',
      editedAt: at(5),
      reactions: [{ emoji: '👍', userIds: [asUserId('bob'), asUserId('ann')] }, { emoji: '🎉', userIds: [asUserId('cy')] }],
    });
    const doc = throughBson(toMessageDocument(original));
    assert.ok(doc.attachment instanceof Binary, 'the attachment travels as BSON binary');
    assert.deepEqual(fromMessageDocument(doc), original);
  });

  it('keeps null fields null, stored as BSON null rather than left out', () => {
    const original = message();
    const doc = throughBson(toMessageDocument(original));
    assert.deepEqual([doc.attachment, doc.replyTo, doc.editedAt, doc.deletedAt], [null, null, null, null]);
    assert.deepEqual(fromMessageDocument(doc), original);
  });

  it('reads an attachment back as a plain Uint8Array with its own bytes', () => {
    const binary = new Binary(new Uint8Array([1, 2, 3]));
    const read = fromMessageDocument({ ...toMessageDocument(message()), attachment: binary }).attachment;
    assert.equal(Object.getPrototypeOf(read), Uint8Array.prototype);
    read![0] = 9;
    assert.deepEqual([...binary.value()], [1, 2, 3], 'changing the message does not change the driver buffer');
  });

  it('stores one reaction entry per user and emoji, and groups them back in first-use order', () => {
    const doc = toMessageDocument(message({ reactions: [{ emoji: '👍', userIds: [asUserId('bob'), asUserId('ann')] }] }));
    assert.deepEqual(doc.reactions, [{ emoji: '👍', userId: 'bob' }, { emoji: '👍', userId: 'ann' }]);
    const grouped = groupReactions([
      { emoji: '🎉', userId: 'ann' }, { emoji: '👍', userId: 'bob' }, { emoji: '🎉', userId: 'cy' }, { emoji: '🎉', userId: 'ann' },
    ]);
    assert.deepEqual(grouped, [{ emoji: '🎉', userIds: ['ann', 'cy'] }, { emoji: '👍', userIds: ['bob'] }]);
    assert.deepEqual(groupReactions([]), []);
  });
});

describe('MongoDB conversation documents', () => {
  it('round-trips a group conversation, with updatedAt starting at createdAt and no pair key', () => {
    const doc = throughBson(toConversationDocument(conversation({ name: null }), [member('ann')]));
    assert.equal('directKey' in doc, false);
    assert.deepEqual(fromConversationDocument(doc), { ...conversation({ name: null }), updatedAt: at(0) });
  });

  it('gives a direct conversation the same pair key whoever creates it', () => {
    const byAnn = toConversationDocument(conversation({ type: 'direct', id: asConversationId('d1') }), [member('ann'), member('bob')]);
    const byBob = toConversationDocument(conversation({ type: 'direct', id: asConversationId('d2'), createdBy: asUserId('bob') }), [member('bob'), member('ann')]);
    assert.equal(byAnn.directKey, byBob.directKey);
    assert.equal(byAnn.directKey, directKeyOf('bob', 'ann'));
    assert.notEqual(directKeyOf('ann', 'bob'), directKeyOf('ann', 'bobby'));
    assert.equal('directKey' in fromConversationDocument(throughBson<ConversationDocument>(byAnn)), false, 'the key stays in the adapter');
    assert.throws(() => toConversationDocument(conversation({ type: 'direct' }), [member('ann')]), /needs two members/);
  });

  it('maps members and read cursors', () => {
    assert.deepEqual(fromMemberDocument({ tenantId: 'acme', conversationId: 'g1', userId: 'bob', role: 'admin', joinedAt: at(3) }), { userId: 'bob', role: 'admin', joinedAt: at(3) });
    assert.deepEqual(fromReadCursorDocument({ tenantId: 'acme', conversationId: 'g1', userId: 'bob', seq: 7, updatedAt: at(4) }), { userId: 'bob', seq: 7, updatedAt: at(4) });
  });
});

describe('MongoDB database name', () => {
  it('comes from the URL path, else is switchboard', () => {
    const cases: [string, string][] = [
      ['mongodb://localhost:27017', 'switchboard'],
      ['mongodb://localhost:27017/', 'switchboard'],
      ['mongodb://localhost:27017/?authSource=admin', 'switchboard'],
      ['mongodb://localhost:27017/chat', 'chat'],
      ['mongodb://user:p%2Fss@a:27017,b:27017/chat?replicaSet=rs0', 'chat'],
      ['mongodb+srv://user:pw@cluster0.example.net/prod?retryWrites=true', 'prod'],
      ['mongodb://localhost/my%2Ddb', 'my-db'],
    ];
    for (const [url, name] of cases) assert.equal(databaseNameOf(url), name, url);
  });
});

describe('MongoDB bulk upserts', () => {
  interface Item { k: string; u: string }
  type Op = AnyBulkWriteOperation<Item>;
  // The driver exports WriteError as a type only: these carry what a bulk error's entries have.
  const writeError = (index: number, code: number): WriteError => ({ index, code, errmsg: `E${code}` }) as unknown as WriteError;

  /**
   * A collection with two unique keys, `k` (what each upsert matches on) and `u`, whose
   * bulkWrite behaves like the driver's: batches of `batchSize`, stopping with a
   * MongoBulkWriteError after the first batch that has write errors.
   */
  function fakeCollection(existing: Item[], batchSize: number) {
    const items = [...existing];
    const keys = new Map<Op, Item>();
    let calls = 0;
    const op = (item: Item): Op => {
      const o: Op = { updateOne: { filter: { k: item.k }, update: { $setOnInsert: { u: item.u } }, upsert: true } };
      keys.set(o, item);
      return o;
    };
    const result = (upserted: number[], errors: WriteError[]) => ({
      upsertedIds: Object.fromEntries(upserted.map((i) => [i, `_id${i}`])),
      getWriteErrors: () => errors,
      getWriteConcernError: () => undefined,
    }) as unknown as BulkWriteResult;
    const collection = {
      async bulkWrite(ops: readonly Op[]): Promise<BulkWriteResult> {
        calls++;
        const upserted: number[] = [];
        const errors: WriteError[] = [];
        for (let start = 0; start < ops.length; start += batchSize) {
          ops.slice(start, start + batchSize).forEach((o, j) => {
            const item = keys.get(o)!;
            if (items.some((i) => i.k === item.k)) return;
            if (items.some((i) => i.u === item.u)) {
              errors.push(writeError(start + j, 11000));
              return;
            }
            items.push(item);
            upserted.push(start + j);
          });
          if (errors.length > 0) throw new MongoBulkWriteError({ message: 'E11000 duplicate key', code: 11000, writeErrors: errors }, result(upserted, errors));
        }
        return result(upserted, errors);
      },
    };
    return { collection, op, items, calls: () => calls };
  }

  it('returns which operations inserted, runs again what a failed batch left undone, and counts duplicates as there', async () => {
    const fake = fakeCollection([{ k: 'old', u: 'taken' }], 2);
    const ops = [
      fake.op({ k: 'a', u: 'a' }), fake.op({ k: 'b', u: 'taken' }), // batch 1: a new one and a duplicate on u
      fake.op({ k: 'old', u: 'x' }), fake.op({ k: 'c', u: 'c' }), // batch 2: a match and a new one
      fake.op({ k: 'a', u: 'a' }), fake.op({ k: 'd', u: 'c' }), // batch 3: a repeat within the call and a duplicate on u
    ];
    const inserted = await bulkUpsert(fake.collection, ops);
    assert.deepEqual([...inserted].sort(), [0, 3]);
    assert.deepEqual(fake.items.map((i) => i.k), ['old', 'a', 'c']);
    assert.ok(fake.calls() > 1, 'the driver stopped after a batch with errors, so the rest ran again');
  });

  it('writes nothing for no operations', async () => {
    const fake = fakeCollection([], 2);
    assert.equal((await bulkUpsert(fake.collection, [])).size, 0);
    assert.equal(fake.calls(), 0);
  });

  it('throws any error other than duplicate keys', async () => {
    const result = { upsertedIds: {}, getWriteErrors: () => [writeError(0, 121)], getWriteConcernError: () => undefined } as unknown as BulkWriteResult;
    const invalid = new MongoBulkWriteError({ message: 'Document failed validation', code: 121, writeErrors: result.getWriteErrors() }, result);
    const op: AnyBulkWriteOperation<Item> = { updateOne: { filter: { k: 'a' }, update: { $setOnInsert: { u: 'a' } }, upsert: true } };
    await assert.rejects(bulkUpsert({ bulkWrite: () => Promise.reject(invalid) }, [op]), invalid);
    const down = new Error('connection closed');
    await assert.rejects(bulkUpsert({ bulkWrite: () => Promise.reject(down) }, [op]), down);
  });

  it('tells a duplicate key from other server errors', () => {
    assert.equal(isDuplicateKeyError(new MongoServerError({ message: 'E11000 duplicate key', code: 11000 })), true);
    assert.equal(isDuplicateKeyError(new MongoServerError({ message: 'Document failed validation', code: 121 })), false);
    assert.equal(isDuplicateKeyError(new Error('E11000')), false);
  });
});

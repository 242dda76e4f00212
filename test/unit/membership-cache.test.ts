import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryConversationStore } from '../../src/adapters/memory/memory-conversation-store.js';
import { MembershipCache } from '../../src/core/conversations/membership-cache.js';
import { asConversationId, asTenantId, asUserId } from '../../src/domain/ids.js';
import type { ConversationStore } from '../../src/ports/conversation-store.js';

const acme = asTenantId('acme');
const at = '2026-11-22T10:00:00.000Z';

/** A store that counts the reads the cache makes. */
async function countingStore(conversations: string[]): Promise<{ store: ConversationStore; reads: () => number }> {
  const inner = new MemoryConversationStore();
  for (const id of conversations) {
    await inner.create({ tenantId: acme, id: asConversationId(id), type: 'group', name: id, isPublic: false, metadata: {}, createdBy: asUserId('ann'), createdAt: at }, [
      { userId: asUserId('ann'), role: 'owner', joinedAt: at },
      { userId: asUserId('bob'), role: 'member', joinedAt: at },
    ]);
  }
  let reads = 0;
  const store = new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === 'get' || prop === 'listMembers') reads += 1;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, reads: () => reads };
}

describe('membership cache', () => {
  it('reads a conversation once, then answers from memory until it is invalidated', async () => {
    const { store, reads } = await countingStore(['c1']);
    const cache = new MembershipCache(store, 10);
    const c1 = asConversationId('c1');
    assert.equal((await cache.conversation(acme, c1))?.name, 'c1');
    assert.equal((await cache.member(acme, c1, asUserId('bob')))?.role, 'member');
    assert.deepEqual((await cache.memberIds(acme, c1)).sort(), ['ann', 'bob']);
    assert.equal(reads(), 2, 'one load: the conversation and its members');

    await store.removeMembers(acme, c1, [asUserId('bob')]);
    assert.notEqual(await cache.member(acme, c1, asUserId('bob')), null, 'still the cached view');
    cache.invalidate(acme, c1);
    assert.equal(await cache.member(acme, c1, asUserId('bob')), null);
    assert.equal(reads(), 4);
  });

  it('does not cache a conversation that does not exist', async () => {
    const { store, reads } = await countingStore([]);
    const cache = new MembershipCache(store, 10);
    assert.equal(await cache.conversation(acme, asConversationId('later')), null);
    await store.create({ tenantId: acme, id: asConversationId('later'), type: 'group', name: 'later', isPublic: false, metadata: {}, createdBy: asUserId('ann'), createdAt: at }, []);
    assert.equal((await cache.conversation(acme, asConversationId('later')))?.name, 'later');
    assert.equal(reads(), 4);
  });

  it('shares one load between concurrent readers, and lets an invalidation during a load win', async () => {
    const { store, reads } = await countingStore(['c2']);
    const cache = new MembershipCache(store, 10);
    const c2 = asConversationId('c2');
    await Promise.all([cache.conversation(acme, c2), cache.member(acme, c2, asUserId('ann')), cache.memberIds(acme, c2)]);
    assert.equal(reads(), 2);

    cache.invalidate(acme, c2);
    const loading = cache.memberIds(acme, c2);
    cache.invalidate(acme, c2);
    await loading;
    await cache.memberIds(acme, c2);
    assert.equal(reads(), 6, 'the load that was overtaken by an invalidation was not kept');
  });

  it('keeps at most its limit, dropping the least recently used', async () => {
    const { store, reads } = await countingStore(['a', 'b', 'c']);
    const cache = new MembershipCache(store, 2);
    for (const id of ['a', 'b']) await cache.conversation(acme, asConversationId(id));
    await cache.conversation(acme, asConversationId('a'));
    await cache.conversation(acme, asConversationId('c'));
    assert.equal(reads(), 6);
    await cache.conversation(acme, asConversationId('a'));
    assert.equal(reads(), 6, 'a was used recently and stayed');
    await cache.conversation(acme, asConversationId('b'));
    assert.equal(reads(), 8, 'b was the least recently used and left');
  });

  it('forgets everything on clear', async () => {
    const { store, reads } = await countingStore(['x', 'y']);
    const cache = new MembershipCache(store, 10);
    for (const id of ['x', 'y']) await cache.conversation(acme, asConversationId(id));
    cache.clear();
    for (const id of ['x', 'y']) await cache.conversation(acme, asConversationId(id));
    assert.equal(reads(), 8);
  });

  it('keeps tenants apart', async () => {
    const { store } = await countingStore(['shared']);
    const cache = new MembershipCache(store, 10);
    assert.equal(await cache.conversation(asTenantId('globex'), asConversationId('shared')), null);
    assert.notEqual(await cache.conversation(acme, asConversationId('shared')), null);
  });
});

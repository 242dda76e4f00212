import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asConversationId, asMessageId, asTenantId, asUserId, type ConversationId } from '../../src/domain/ids.js';
import type { Member, Message } from '../../src/domain/model.js';
import type { ConversationStore, NewConversation } from '../../src/ports/conversation-store.js';
import type { MessageStore } from '../../src/ports/message-store.js';

const acme = asTenantId('acme');
const u = asUserId;
const at = (minute: number) => `2026-11-22T10:${String(minute).padStart(2, '0')}:00.000Z`;
const conversation = (id: string, o: Partial<NewConversation> = {}): NewConversation => ({
  tenantId: acme, id: asConversationId(id), type: 'group', name: id, isPublic: false, metadata: { topic: 'x' }, createdBy: u('ann'), createdAt: at(0), ...o,
});
const member = (user: string, role: Member['role'] = 'member', minute = 0): Member => ({ userId: u(user), role, joinedAt: at(minute) });

export interface Stores {
  conversations: ConversationStore;
  messages: MessageStore;
}

/** The behaviour every pair of conversation and message stores must have. */
export function storesContract(name: string, make: () => Promise<Stores>): void {
  describe(`ConversationStore contract: ${name}`, () => {
    it('creates a conversation with its members and reads both back', async () => {
      const { conversations: s } = await make();
      const { conversation: c, created } = await s.create(conversation('g1'), [member('ann', 'owner'), member('bob')]);
      assert.equal(created, true);
      assert.deepEqual(c, { ...conversation('g1'), updatedAt: at(0) });
      assert.deepEqual(await s.get(acme, c.id), c);
      assert.deepEqual((await s.listMembers(acme, c.id)).map((m) => [m.userId, m.role]).sort(), [['ann', 'owner'], ['bob', 'member']]);
      assert.deepEqual(await s.getMember(acme, c.id, u('bob')), member('bob'));
      assert.equal(await s.getMember(acme, c.id, u('zed')), null);
      assert.equal(await s.get(acme, asConversationId('missing')), null);
    });

    it('keeps one direct conversation per pair, whoever creates it', async () => {
      const { conversations: s } = await make();
      const first = await s.create(conversation('d1', { type: 'direct', createdBy: u('ann') }), [member('ann'), member('bob')]);
      const again = await s.create(conversation('d2', { type: 'direct', createdBy: u('bob') }), [member('bob'), member('ann')]);
      assert.deepEqual([again.created, again.conversation.id], [false, first.conversation.id]);
      const other = await s.create(conversation('d3', { type: 'direct' }), [member('ann'), member('cy')]);
      assert.equal(other.created, true);
    });

    it('keeps one direct conversation per pair also when both users create it at once', async () => {
      const { conversations: s } = await make();
      const results = await Promise.all(['d1', 'd2', 'd3', 'd4'].map((id, i) => s.create(conversation(id, { type: 'direct' }), i % 2 ? [member('ann'), member('bob')] : [member('bob'), member('ann')])));
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(new Set(results.map((r) => r.conversation.id)).size, 1);
      assert.equal((await s.listForUser(acme, u('ann'))).length, 1);
    });

    it('updates only what the patch names', async () => {
      const { conversations: s } = await make();
      await s.create(conversation('g2'), [member('ann', 'owner')]);
      const renamed = await s.update(acme, asConversationId('g2'), { name: 'renamed', updatedAt: at(5) });
      assert.deepEqual([renamed?.name, renamed?.isPublic, renamed?.metadata, renamed?.updatedAt], ['renamed', false, { topic: 'x' }, at(5)]);
      const opened = await s.update(acme, asConversationId('g2'), { isPublic: true, metadata: { topic: 'y' }, updatedAt: at(6) });
      assert.deepEqual([opened?.name, opened?.isPublic, opened?.metadata], ['renamed', true, { topic: 'y' }]);
      assert.equal(await s.update(acme, asConversationId('missing'), { name: 'x', updatedAt: at(7) }), null);
    });

    it('adds and removes only who changes, and reports exactly them', async () => {
      const { conversations: s } = await make();
      const id = asConversationId('g3');
      await s.create(conversation('g3'), [member('ann', 'owner'), member('bob')]);
      assert.deepEqual((await s.addMembers(acme, id, [member('bob'), member('cy'), member('dee')])).map((m) => m.userId).sort(), ['cy', 'dee']);
      assert.deepEqual((await s.removeMembers(acme, id, [u('cy'), u('zed'), u('cy')])), ['cy']);
      await s.setRole(acme, id, u('bob'), 'admin');
      assert.equal((await s.getMember(acme, id, u('bob')))?.role, 'admin');
      assert.deepEqual((await s.listMembers(acme, id)).map((m) => m.userId).sort(), ['ann', 'bob', 'dee']);
    });

    it('lists a user\'s conversations newest first, within the tenant', async () => {
      const { conversations: s } = await make();
      await s.create(conversation('old', { createdAt: at(1) }), [member('eve')]);
      await s.create(conversation('new', { createdAt: at(2) }), [member('eve')]);
      await s.create(conversation('notmine', { createdAt: at(3) }), [member('fay')]);
      await s.create(conversation('foreign', { tenantId: asTenantId('globex'), createdAt: at(4) }), [member('eve')]);
      assert.deepEqual((await s.listForUser(acme, u('eve'))).map((c) => c.id), ['new', 'old']);
      assert.equal(await s.get(asTenantId('globex'), asConversationId('old')), null, 'ids do not reach across tenants');
    });
  });

  describe(`MessageStore contract: ${name}`, () => {
    const setup = async (id = 'room') => {
      const stores = await make();
      await stores.conversations.create(conversation(id), [member('ann', 'owner'), member('bob')]);
      let n = 0;
      /** The next message as the sequencer numbers it: m1/c1 has seq 1, m2/c2 seq 2… */
      const msg = (sender: string, o: Partial<Message> = {}): Message => {
        n += 1;
        return {
          tenantId: acme, conversationId: asConversationId(id), id: asMessageId(`m${n}`), seq: n, senderId: u(sender), clientMessageId: `c${n}`,
          type: 'text', content: `text ${n}`, metadata: {}, attachment: null, replyTo: null, createdAt: at(n % 60), editedAt: null, deletedAt: null, reactions: [], ...o,
        };
      };
      return { ...stores, conversationId: asConversationId(id) as ConversationId, msg };
    };

    it('inserts numbered messages and counts only the new ones: a replay by id is a no-op', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const [m1, m2, m3, m4] = [msg('ann'), msg('bob'), msg('ann'), msg('bob')];
      assert.equal(await s.insert([m1!, m2!, m3!]), 3);
      assert.equal(await s.insert([m2!, m3!, m4!]), 1);
      assert.equal(await s.insert([m4!, m4!]), 0);
      assert.equal(await s.insert([]), 0);
      const m5 = msg('ann');
      const counts = await Promise.all(Array.from({ length: 5 }, () => s.insert([m5, m5])));
      assert.equal(counts.reduce((a, b) => a + b, 0), 1, 'concurrent replays store a message once');
      assert.deepEqual((await s.page(acme, conversationId, { limit: 10 })).map((m) => [m.seq, m.id]), [[1, 'm1'], [2, 'm2'], [3, 'm3'], [4, 'm4'], [5, 'm5']]);
    });

    it('counts a repeat of the seq or of the sender and client message id as already stored, and keeps the first', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const first = msg('ann', { clientMessageId: 'same', content: 'first' });
      assert.equal(await s.insert([first]), 1);
      assert.equal(await s.insert([msg('bob', { seq: first.seq, content: 'same seq' })]), 0);
      assert.equal(await s.insert([msg('ann', { clientMessageId: 'same', content: 'same client id' })]), 0);
      const otherSender = msg('bob', { clientMessageId: 'same' });
      assert.equal(await s.insert([otherSender]), 1, 'another sender may use the same client id');
      assert.deepEqual((await s.page(acme, conversationId, { limit: 10 })).map((m) => m.content), ['first', otherSender.content]);
    });

    it('leaves edits, reactions and deletion in place when a message is inserted again', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const [kept, deleted] = [msg('ann', { metadata: { a: 1 } }), msg('bob', { attachment: new Uint8Array([9]) })];
      await s.insert([kept, deleted]);
      await s.edit(acme, conversationId, kept.id, 'changed', { a: 2 }, at(30));
      await s.react(acme, conversationId, kept.id, u('bob'), '👍', 'add', at(31));
      await s.react(acme, conversationId, deleted.id, u('ann'), '🎉', 'add', at(32));
      await s.markDeleted(acme, conversationId, deleted.id, at(33));
      assert.equal(await s.insert([kept, deleted]), 0);
      const [k, d] = await s.page(acme, conversationId, { limit: 10 });
      assert.deepEqual([k?.content, k?.metadata, k?.editedAt, k?.reactions], ['changed', { a: 2 }, at(30), [{ emoji: '👍', userIds: ['bob'] }]]);
      assert.deepEqual([d?.content, d?.attachment, d?.reactions, d?.deletedAt], ['', null, [], at(33)]);
    });

    it('pages in seq order whatever order the messages were inserted in, gaps included', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const all = Array.from({ length: 8 }, () => msg('ann'));
      const bySeq = (...seqs: number[]) => seqs.map((n) => all[n - 1]!);
      await s.insert(bySeq(7, 2));
      await s.insert(bySeq(5));
      await s.insert(bySeq(3, 1));
      const seqs = async (q: { before?: number; after?: number; limit: number }) => (await s.page(acme, conversationId, q)).map((m) => m.seq);
      assert.deepEqual(await seqs({ limit: 10 }), [1, 2, 3, 5, 7]);
      assert.deepEqual(await seqs({ limit: 2 }), [5, 7]);
      assert.deepEqual(await seqs({ before: 5, limit: 2 }), [2, 3]);
      assert.deepEqual(await seqs({ after: 3, limit: 1 }), [5]);
      assert.deepEqual(await seqs({ after: 5, limit: 5 }), [7]);
      await s.insert(bySeq(4, 6, 8));
      assert.deepEqual(await seqs({ after: 3, limit: 3 }), [4, 5, 6]);
    });

    it('inserts a large batch in one call', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const batch = Array.from({ length: 2500 }, () => msg('ann'));
      assert.equal(await s.insert(batch), 2500);
      assert.equal(await s.insert(batch), 0);
      assert.deepEqual((await s.page(acme, conversationId, { limit: 2 })).map((m) => m.seq), [2499, 2500]);
    });

    it('inserts a batch that spans conversations and tenants, each where it belongs', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const other = asConversationId('other');
      const globex = asTenantId('globex');
      const batch = [msg('ann'), msg('bob', { conversationId: other, seq: 1 }), msg('ann'), msg('cy', { tenantId: globex, seq: 1 })];
      assert.equal(await s.insert(batch), 4);
      assert.deepEqual((await s.page(acme, conversationId, { limit: 10 })).map((m) => [m.seq, m.id]), [[1, 'm1'], [3, 'm3']]);
      assert.deepEqual((await s.page(acme, other, { limit: 10 })).map((m) => [m.seq, m.id]), [[1, 'm2']]);
      assert.deepEqual((await s.page(globex, conversationId, { limit: 10 })).map((m) => [m.seq, m.id]), [[1, 'm4']]);
      assert.equal(await s.get(acme, conversationId, asMessageId('m4')), null, 'ids do not reach across tenants');
    });

    it('reads what it wrote at once, with metadata, reply and binary attachment intact', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const message = msg('ann', { metadata: { k: [1, 'two'], nested: { ok: true } }, attachment: new Uint8Array([0, 255, 7]) });
      const reply = msg('bob', { replyTo: message.id, type: 'media' });
      await s.insert([message, reply]);
      assert.deepEqual(await s.get(acme, conversationId, message.id), message);
      assert.deepEqual(await s.get(acme, conversationId, reply.id), reply);
      assert.equal(await s.get(asTenantId('globex'), conversationId, message.id), null);
    });

    it('pages by sequence number: newest page, before, after, in ascending order', async () => {
      const { messages: s, msg, conversationId } = await setup();
      for (let i = 0; i < 7; i++) await s.insert([msg('ann')]);
      const seqs = async (q: { before?: number; after?: number; limit: number }) => (await s.page(acme, conversationId, q)).map((m) => m.seq);
      assert.deepEqual(await seqs({ limit: 3 }), [5, 6, 7]);
      assert.deepEqual(await seqs({ before: 5, limit: 3 }), [2, 3, 4]);
      assert.deepEqual(await seqs({ before: 2, limit: 3 }), [1]);
      assert.deepEqual(await seqs({ after: 5, limit: 3 }), [6, 7]);
      assert.deepEqual(await seqs({ after: 0, limit: 2 }), [1, 2]);
      assert.deepEqual(await seqs({ after: 7, limit: 2 }), []);
      assert.deepEqual(await s.page(acme, asConversationId('empty'), { limit: 3 }), []);
    });

    it('edits and deletes: a deleted message keeps its place and loses its content', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const message = msg('ann', { metadata: { a: 1 }, attachment: new Uint8Array([1]) });
      await s.insert([message]);
      const edited = await s.edit(acme, conversationId, message.id, 'changed', undefined, at(30));
      assert.deepEqual([edited?.content, edited?.metadata, edited?.editedAt], ['changed', { a: 1 }, at(30)]);
      await s.react(acme, conversationId, message.id, u('bob'), '👍', 'add', at(31));
      const deleted = await s.markDeleted(acme, conversationId, message.id, at(32));
      assert.deepEqual([deleted?.seq, deleted?.content, deleted?.metadata, deleted?.attachment, deleted?.reactions, deleted?.deletedAt], [1, '', {}, null, [], at(32)]);
      assert.equal((await s.markDeleted(acme, conversationId, message.id, at(34)))?.deletedAt, at(32), 'deleting again keeps the first time');
      assert.equal(await s.edit(acme, conversationId, asMessageId('missing'), 'x', undefined, at(33)), null);
      assert.equal(await s.markDeleted(acme, conversationId, asMessageId('missing'), at(33)), null);
    });

    it('adds and removes reactions per user, idempotently', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const message = msg('ann');
      await s.insert([message]);
      await s.react(acme, conversationId, message.id, u('bob'), '👍', 'add', at(1));
      await s.react(acme, conversationId, message.id, u('bob'), '👍', 'add', at(2));
      await s.react(acme, conversationId, message.id, u('ann'), '👍', 'add', at(3));
      const both = await s.react(acme, conversationId, message.id, u('ann'), '🎉', 'add', at(4));
      const thumbs = both?.reactions.find((r) => r.emoji === '👍');
      assert.deepEqual([...(thumbs?.userIds ?? [])].sort(), ['ann', 'bob']);
      const removed = await s.react(acme, conversationId, message.id, u('bob'), '👍', 'remove', at(5));
      assert.deepEqual(removed?.reactions.map((r) => [r.emoji, r.userIds]).sort(), [['🎉', ['ann']], ['👍', ['ann']]]);
      const gone = await s.react(acme, conversationId, message.id, u('ann'), '🎉', 'remove', at(6));
      assert.deepEqual(gone?.reactions.map((r) => r.emoji), ['👍'], 'an emoji nobody uses any more disappears');
      assert.equal(await s.react(acme, conversationId, asMessageId('missing'), u('ann'), '👍', 'add', at(7)), null);
    });

    it('moves read cursors forward only, and names the senders of what was newly read', async () => {
      const { messages: s, msg, conversationId } = await setup();
      await s.insert([msg('ann'), msg('bob'), msg('ann')]);
      assert.deepEqual(await s.advanceReadCursor(acme, conversationId, u('cy'), 2, at(10)), { previous: 0, current: 2 });
      assert.deepEqual(await s.advanceReadCursor(acme, conversationId, u('cy'), 1, at(11)), { previous: 2, current: 2 });
      assert.deepEqual((await s.sendersBetween(acme, conversationId, 0, 2)).sort(), ['ann', 'bob']);
      assert.deepEqual(await s.sendersBetween(acme, conversationId, 2, 3), ['ann']);
      assert.deepEqual((await s.readCursors(acme, conversationId)).map((c) => [c.userId, c.seq, c.updatedAt]), [['cy', 2, at(10)]]);
    });

    it('moves one cursor exactly when it is moved concurrently', async () => {
      const { messages: s, conversationId } = await setup();
      const moves = await Promise.all([3, 1, 5, 2, 4].map((seq, i) => s.advanceReadCursor(acme, conversationId, u('dee'), seq, at(20 + i))));
      assert.equal(Math.max(...moves.map((m) => m.current)), 5);
      const advanced = moves.filter((m) => m.current > m.previous).sort((a, b) => a.previous - b.previous);
      assert.deepEqual(advanced.map((m) => m.previous), [0, ...advanced.slice(0, -1).map((m) => m.current)], 'each advance starts where the one before ended');
      assert.deepEqual((await s.readCursors(acme, conversationId)).map((c) => [c.userId, c.seq]), [['dee', 5]]);
    });
  });
}

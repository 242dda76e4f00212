import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asConversationId, asMessageId, asTenantId, asUserId, type ConversationId } from '../../src/domain/ids.js';
import type { Member } from '../../src/domain/model.js';
import type { ConversationStore, NewConversation } from '../../src/ports/conversation-store.js';
import type { MessageStore, NewMessage } from '../../src/ports/message-store.js';

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
      const msg = (sender: string, o: Partial<NewMessage> = {}): NewMessage => {
        n += 1;
        return {
          tenantId: acme, conversationId: asConversationId(id), id: asMessageId(`m${n}`), senderId: u(sender), clientMessageId: `c${n}`,
          type: 'text', content: `text ${n}`, metadata: {}, attachment: null, replyTo: null, createdAt: at(n % 60), ...o,
        };
      };
      return { ...stores, conversationId: asConversationId(id) as ConversationId, msg };
    };

    it('numbers messages 1, 2, 3… per conversation, also when appended concurrently', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const results = await Promise.all(Array.from({ length: 25 }, () => s.append(msg('ann'))));
      assert.deepEqual(results.map((r) => r.message.seq).sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i + 1));
      assert.equal((await s.lastSeqs(acme, [conversationId])).get(conversationId), 25);
      assert.equal((await s.lastSeqs(acme, [asConversationId('empty')])).get(asConversationId('empty')), 0);
    });

    it('deduplicates on sender and client message id, and stores the first only', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const first = await s.append(msg('ann', { clientMessageId: 'same', content: 'first' }));
      const again = await s.append(msg('ann', { clientMessageId: 'same', content: 'second' }));
      assert.equal(again.duplicate, true);
      assert.deepEqual(again.message, first.message);
      const otherSender = await s.append(msg('bob', { clientMessageId: 'same' }));
      assert.equal(otherSender.duplicate, false, 'another sender may use the same client id');
      assert.deepEqual((await s.page(acme, conversationId, { limit: 10 })).map((m) => m.content), ['first', otherSender.message.content]);
    });

    it('reads what it wrote at once, with metadata, reply and binary attachment intact', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const { message } = await s.append(msg('ann', { metadata: { k: [1, 'two'] }, attachment: new Uint8Array([0, 255, 7]) }));
      const reply = await s.append(msg('bob', { replyTo: message.id }));
      const read = await s.get(acme, conversationId, message.id);
      assert.deepEqual(read?.metadata, { k: [1, 'two'] });
      assert.deepEqual([...(read?.attachment ?? [])], [0, 255, 7]);
      assert.equal((await s.get(acme, conversationId, reply.message.id))?.replyTo, message.id);
      assert.equal(await s.get(asTenantId('globex'), conversationId, message.id), null);
    });

    it('pages by sequence number: newest page, before, after, in ascending order', async () => {
      const { messages: s, msg, conversationId } = await setup();
      for (let i = 0; i < 7; i++) await s.append(msg('ann'));
      const seqs = async (q: { before?: number; after?: number; limit: number }) => (await s.page(acme, conversationId, q)).map((m) => m.seq);
      assert.deepEqual(await seqs({ limit: 3 }), [5, 6, 7]);
      assert.deepEqual(await seqs({ before: 5, limit: 3 }), [2, 3, 4]);
      assert.deepEqual(await seqs({ before: 2, limit: 3 }), [1]);
      assert.deepEqual(await seqs({ after: 5, limit: 3 }), [6, 7]);
      assert.deepEqual(await seqs({ after: 0, limit: 2 }), [1, 2]);
      assert.deepEqual(await seqs({ after: 7, limit: 2 }), []);
    });

    it('edits and deletes: a deleted message keeps its place and loses its content', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const { message } = await s.append(msg('ann', { metadata: { a: 1 }, attachment: new Uint8Array([1]) }));
      const edited = await s.edit(acme, conversationId, message.id, 'changed', undefined, at(30));
      assert.deepEqual([edited?.content, edited?.metadata, edited?.editedAt], ['changed', { a: 1 }, at(30)]);
      await s.react(acme, conversationId, message.id, u('bob'), '👍', 'add', at(31));
      const deleted = await s.markDeleted(acme, conversationId, message.id, at(32));
      assert.deepEqual([deleted?.seq, deleted?.content, deleted?.metadata, deleted?.attachment, deleted?.reactions, deleted?.deletedAt], [1, '', {}, null, [], at(32)]);
      assert.equal(await s.edit(acme, conversationId, asMessageId('missing'), 'x', undefined, at(33)), null);
    });

    it('adds and removes reactions per user, idempotently', async () => {
      const { messages: s, msg, conversationId } = await setup();
      const { message } = await s.append(msg('ann'));
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
    });

    it('moves read cursors forward only, and names the senders of what was newly read', async () => {
      const { messages: s, msg, conversationId } = await setup();
      await s.append(msg('ann'));
      await s.append(msg('bob'));
      await s.append(msg('ann'));
      assert.deepEqual(await s.advanceReadCursor(acme, conversationId, u('cy'), 2, at(10)), { previous: 0, current: 2 });
      assert.deepEqual(await s.advanceReadCursor(acme, conversationId, u('cy'), 1, at(11)), { previous: 2, current: 2 });
      assert.deepEqual((await s.sendersBetween(acme, conversationId, 0, 2)).sort(), ['ann', 'bob']);
      assert.deepEqual(await s.sendersBetween(acme, conversationId, 2, 3), ['ann']);
      assert.deepEqual((await s.readCursors(acme, conversationId)).map((c) => [c.userId, c.seq, c.updatedAt]), [['cy', 2, at(10)]]);
    });
  });
}

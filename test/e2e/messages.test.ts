import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { closeClients, connect, createRoom, fails, next, ok, record, settle, startServer, type TestServer } from '../helpers/harness.js';

interface Msg {
  id: string;
  seq: number;
  conversationId: string;
  senderId: string;
  content: string;
  clientMessageId: string;
  editedAt: string | null;
  deletedAt: string | null;
  reactions: { emoji: string; userIds: string[] }[];
  attachment?: Uint8Array;
}
type Sent = { message: Msg; duplicate: boolean };

describe('messages', () => {
  let server: TestServer;
  let alicePhone: Socket;
  let aliceLaptop: Socket;
  let bob: Socket;
  let carol: Socket;
  let group: string;

  before(async () => {
    server = await startServer();
    alicePhone = await connect(server, 'alice', { device: 'phone' });
    aliceLaptop = await connect(server, 'alice', { device: 'laptop' });
    bob = await connect(server, 'bob');
    carol = await connect(server, 'carol');
    group = (await createRoom(alicePhone, 'group', ['bob', 'carol'], { name: 'team' })).conversation.id;
  });
  after(async () => {
    closeClients();
    await server.dispose();
  });

  it('delivers a sent message to every member device, the sender\'s other devices included, but not back to the sending socket', async () => {
    const echo = record<Msg>(alicePhone, 'message:new');
    const toBob = next<Msg>(bob, 'message:new', (m) => m.clientMessageId === 'm1');
    const toCarol = next<Msg>(carol, 'message:new', (m) => m.clientMessageId === 'm1');
    const toLaptop = next<Msg>(aliceLaptop, 'message:new', (m) => m.clientMessageId === 'm1');
    const sent = await ok<Sent>(alicePhone, 'message:send', { conversationId: group, clientMessageId: 'm1', content: 'hello team' });
    assert.equal(sent.duplicate, false);
    assert.equal(sent.message.content, 'hello team');
    assert.equal(sent.message.senderId, 'alice');
    for (const env of await Promise.all([toBob, toCarol, toLaptop])) {
      assert.equal(env.type, 'message');
      assert.equal(env.tenant_id, 'acme');
      assert.equal(env.v, 1);
      assert.equal(env.payload.action, 'message:new');
      assert.equal(env.payload.data.id, sent.message.id);
      assert.equal(env.payload.data.seq, sent.message.seq);
    }
    await settle(alicePhone);
    assert.equal(echo.length, 0);
  });

  it('numbers messages per conversation in order, without gaps', async () => {
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      seqs.push((await ok<Sent>(bob, 'message:send', { conversationId: group, clientMessageId: `seq-${i}`, content: `n${i}` })).message.seq);
    }
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1);
    const other = (await createRoom(bob, 'direct', ['carol'])).conversation.id;
    const first = await ok<Sent>(bob, 'message:send', { conversationId: other, clientMessageId: 'o1', content: 'x' });
    assert.equal(first.message.seq, 1);
  });

  it('never turns a resend with the same clientMessageId into a second message', async () => {
    const deliveries = record<Msg>(carol, 'message:new');
    const first = await ok<Sent>(bob, 'message:send', { conversationId: group, clientMessageId: 'dup-1', content: 'once' });
    const again = await ok<Sent>(bob, 'message:send', { conversationId: group, clientMessageId: 'dup-1', content: 'once (retry)' });
    assert.equal(again.duplicate, true);
    assert.equal(again.message.id, first.message.id);
    assert.equal(again.message.seq, first.message.seq);
    assert.equal(again.message.content, 'once');
    await settle(carol);
    const delivered = deliveries.filter((e) => e.payload.data.clientMessageId === 'dup-1');
    assert.ok(delivered.length >= 1);
    assert.ok(delivered.every((e) => e.payload.data.id === first.message.id && e.payload.data.content === 'once'));
    const history = await ok<{ messages: Msg[] }>(carol, 'message:history', { conversationId: group, limit: 100 });
    assert.equal(history.messages.filter((m) => m.clientMessageId === 'dup-1').length, 1);
  });

  it('lets only the author edit or delete, and tells every member', async () => {
    const { message } = await ok<Sent>(alicePhone, 'message:send', { conversationId: group, clientMessageId: 'ed-1', content: 'typo' });
    assert.equal((await fails(bob, 'message:edit', { conversationId: group, messageId: message.id, content: 'hacked' })).code, 'FORBIDDEN');
    assert.equal((await fails(bob, 'message:delete', { conversationId: group, messageId: message.id })).code, 'FORBIDDEN');

    const edited = next<Msg>(bob, 'message:updated', (m) => m.id === message.id);
    const result = await ok<Msg>(alicePhone, 'message:edit', { conversationId: group, messageId: message.id, content: 'fixed' });
    assert.equal(result.content, 'fixed');
    assert.ok(result.editedAt);
    assert.equal((await edited).payload.data.content, 'fixed');

    const deleted = next<{ messageId: string; seq: number }>(carol, 'message:deleted', (d) => d.messageId === message.id);
    await ok(alicePhone, 'message:delete', { conversationId: group, messageId: message.id });
    assert.equal((await deleted).payload.data.seq, message.seq);
    assert.equal((await fails(alicePhone, 'message:edit', { conversationId: group, messageId: message.id, content: 'again' })).code, 'CONFLICT');
    const page = await ok<{ messages: Msg[] }>(bob, 'message:history', { conversationId: group, after: message.seq - 1, limit: 1 });
    assert.equal(page.messages[0]!.content, '');
    assert.ok(page.messages[0]!.deletedAt);
  });

  it('adds and removes reactions and broadcasts the aggregate', async () => {
    const { message } = await ok<Sent>(alicePhone, 'message:send', { conversationId: group, clientMessageId: 'rx-1', content: 'react to me' });
    const seen = next<{ reactions: Msg['reactions'] }>(alicePhone, 'message:reaction', (d) => d.reactions.length > 0);
    await ok(bob, 'message:react', { conversationId: group, messageId: message.id, emoji: '👍' });
    const added = await ok<{ reactions: Msg['reactions'] }>(carol, 'message:react', { conversationId: group, messageId: message.id, emoji: '👍', op: 'add' });
    assert.deepEqual(added.reactions, [{ emoji: '👍', userIds: ['bob', 'carol'] }]);
    assert.equal((await seen).payload.data.reactions[0]!.emoji, '👍');
    const removed = await ok<{ reactions: Msg['reactions'] }>(bob, 'message:react', { conversationId: group, messageId: message.id, emoji: '👍', op: 'remove' });
    assert.deepEqual(removed.reactions, [{ emoji: '👍', userIds: ['carol'] }]);
  });

  it('moves the read cursor forward and sends a receipt to the sender and the reader\'s other devices', async () => {
    const dm = (await createRoom(alicePhone, 'direct', ['bob'])).conversation.id;
    const { message } = await ok<Sent>(alicePhone, 'message:send', { conversationId: dm, clientMessageId: 'rr-1', content: 'did you read this?' });
    const receipt = next<{ userId: string; seq: number; conversationId: string }>(aliceLaptop, 'message:read', (r) => r.conversationId === dm);
    const read = await ok<{ seq: number }>(bob, 'message:read', { conversationId: dm, seq: message.seq });
    assert.equal(read.seq, message.seq);
    const env = await receipt;
    assert.equal(env.payload.data.userId, 'bob');
    assert.equal(env.payload.data.seq, message.seq);
    // The cursor never moves back, and reading past the newest message clamps to it.
    assert.equal((await ok<{ seq: number }>(bob, 'message:read', { conversationId: dm, seq: 0 })).seq, message.seq);
    assert.equal((await ok<{ seq: number }>(bob, 'message:read', { conversationId: dm, seq: 999 })).seq, message.seq);
    const room = await ok<{ readCursors: { userId: string; seq: number }[]; lastSeq: number }>(alicePhone, 'room:get', { conversationId: dm });
    assert.deepEqual(room.readCursors, [{ userId: 'bob', seq: message.seq }]);
    assert.equal(room.lastSeq, message.seq);
  });

  it('pages history by sequence number, and an acked message is in history at once', async () => {
    const dm = (await createRoom(carol, 'group', ['bob'], { name: 'history' })).conversation.id;
    for (let i = 1; i <= 7; i++) {
      const { message } = await ok<Sent>(carol, 'message:send', { conversationId: dm, clientMessageId: `h${i}`, content: `h${i}` });
      const newest = await ok<{ messages: Msg[] }>(carol, 'message:history', { conversationId: dm, limit: 1 });
      assert.equal(newest.messages[0]!.id, message.id);
    }
    const last = await ok<{ messages: Msg[]; hasMore: boolean }>(bob, 'message:history', { conversationId: dm, limit: 3 });
    assert.deepEqual(last.messages.map((m) => m.seq), [5, 6, 7]);
    assert.equal(last.hasMore, true);
    const older = await ok<{ messages: Msg[]; hasMore: boolean }>(bob, 'message:history', { conversationId: dm, before: 5, limit: 3 });
    assert.deepEqual(older.messages.map((m) => m.seq), [2, 3, 4]);
    assert.equal(older.hasMore, true);
    const oldest = await ok<{ messages: Msg[]; hasMore: boolean }>(bob, 'message:history', { conversationId: dm, before: 2, limit: 3 });
    assert.deepEqual(oldest.messages.map((m) => m.seq), [1]);
    assert.equal(oldest.hasMore, false);
    const forward = await ok<{ messages: Msg[]; hasMore: boolean }>(bob, 'message:history', { conversationId: dm, after: 4, limit: 2 });
    assert.deepEqual(forward.messages.map((m) => m.seq), [5, 6]);
    assert.equal(forward.hasMore, true);
  });

  it('lets only owners and admins post in a channel, and members receive it', async () => {
    const channel = (await createRoom(alicePhone, 'channel', ['bob'], { name: 'news' })).conversation.id;
    assert.equal((await fails(bob, 'message:send', { conversationId: channel, clientMessageId: 'c1', content: 'me too' })).code, 'FORBIDDEN');
    const got = next<Msg>(bob, 'message:new', (m) => m.conversationId === channel);
    await ok(alicePhone, 'message:send', { conversationId: channel, clientMessageId: 'c2', content: 'announcement' });
    assert.equal((await got).payload.data.content, 'announcement');
  });

  it('carries a binary attachment end to end', async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const got = next<Msg>(carol, 'message:new', (m) => m.clientMessageId === 'bin-1');
    await ok(alicePhone, 'message:send', { conversationId: group, clientMessageId: 'bin-1', type: 'media', content: 'raw', attachment: bytes });
    const env = await got;
    const received = env.payload.data.attachment;
    assert.ok(received);
    assert.deepEqual([...new Uint8Array(received)], [...bytes]);
    assert.equal(typeof env.offset, 'number', 'with binary data too, each member gets its inbox offset');
  });

  it('gives each member of a group the message with the offset of their own inbox', async () => {
    const groupMessage = async (clientMessageId: string) => {
      const toBob = next<Msg>(bob, 'message:new', (m) => m.clientMessageId === clientMessageId);
      const toCarol = next<Msg>(carol, 'message:new', (m) => m.clientMessageId === clientMessageId);
      await ok(alicePhone, 'message:send', { conversationId: group, clientMessageId, content: `offsets ${clientMessageId}` });
      return Promise.all([toBob, toCarol]);
    };
    const [bob1, carol1] = await groupMessage('off-1');
    const dm = (await createRoom(alicePhone, 'direct', ['bob'])).conversation.id;
    const direct = next<Msg>(bob, 'message:new', (m) => m.clientMessageId === 'off-dm');
    await ok(alicePhone, 'message:send', { conversationId: dm, clientMessageId: 'off-dm', content: 'only bob' });
    await direct;
    const [bob2, carol2] = await groupMessage('off-2');
    assert.equal(bob2.offset, bob1.offset! + 2, 'bob got the direct message in between');
    assert.equal(carol2.offset, carol1.offset! + 1);
    const { offset: _b, ...bobRest } = bob2;
    const { offset: _c, ...carolRest } = carol2;
    assert.deepEqual(bobRest, carolRest, 'the same envelope otherwise');
    assert.equal(bob2.payload.data.content, 'offsets off-2');
  });

  it('refuses non-members and unknown conversations', async () => {
    const dan = await connect(server, 'dan');
    assert.equal((await fails(dan, 'message:send', { conversationId: group, clientMessageId: 'x', content: 'let me in' })).code, 'NOT_A_MEMBER');
    assert.equal((await fails(dan, 'message:history', { conversationId: group })).code, 'NOT_A_MEMBER');
    assert.equal((await fails(dan, 'message:send', { conversationId: 'nope', clientMessageId: 'x', content: 'hi' })).code, 'NOT_FOUND');
    assert.equal((await fails(alicePhone, 'message:send', { conversationId: group, clientMessageId: 'r', content: 'x', replyTo: 'missing' })).code, 'NOT_FOUND');
  });
});

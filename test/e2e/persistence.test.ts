import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { closeClients, connect, createRoom, ok, startServer, type TestServer } from '../helpers/harness.js';

interface Msg { id: string; seq: number; content: string; editedAt: string | null; deletedAt: string | null; reactions: { emoji: string; userIds: string[] }[] }

describe('persistence across a restart', () => {
  let server: TestServer | undefined;
  after(async () => {
    closeClients();
    await server?.dispose();
  });

  it('keeps conversations, members, roles, messages, edits, deletions, reactions and read cursors', async () => {
    server = await startServer();
    const alice = await connect(server, 'alice');
    const bob = await connect(server, 'bob');
    const group = await createRoom(alice, 'group', ['bob', 'carol'], { name: 'durable', metadata: { k: 'v' } });
    const id = group.conversation.id;
    await ok(alice, 'room:update', { conversationId: id, promote: ['bob'] });
    const sent: Msg[] = [];
    for (let i = 1; i <= 4; i++) sent.push((await ok<{ message: Msg }>(alice, 'message:send', { conversationId: id, clientMessageId: `p${i}`, content: `m${i}` })).message);
    await ok(alice, 'message:edit', { conversationId: id, messageId: sent[0]!.id, content: 'm1 (edited)' });
    await ok(alice, 'message:delete', { conversationId: id, messageId: sent[1]!.id });
    await ok(bob, 'message:react', { conversationId: id, messageId: sent[2]!.id, emoji: '🎉' });
    await ok(bob, 'message:read', { conversationId: id, seq: 3 });
    const dataDir = server.dataDir;
    closeClients();
    await server.stop();

    server = await startServer({}, dataDir);
    const bobAgain = await connect(server, 'bob');
    const view = await ok<{ conversation: { name: string; metadata: Record<string, unknown> }; members: { userId: string; role: string }[]; lastSeq: number; readCursors: { userId: string; seq: number }[] }>(bobAgain, 'room:get', { conversationId: id });
    assert.equal(view.conversation.name, 'durable');
    assert.deepEqual(view.conversation.metadata, { k: 'v' });
    assert.deepEqual(Object.fromEntries(view.members.map((m) => [m.userId, m.role])), { alice: 'owner', bob: 'admin', carol: 'member' });
    assert.equal(view.lastSeq, 4);
    assert.deepEqual(view.readCursors, [{ userId: 'bob', seq: 3 }]);

    const history = await ok<{ messages: Msg[] }>(bobAgain, 'message:history', { conversationId: id });
    assert.deepEqual(history.messages.map((m) => m.seq), [1, 2, 3, 4]);
    assert.equal(history.messages[0]!.content, 'm1 (edited)');
    assert.ok(history.messages[0]!.editedAt);
    assert.ok(history.messages[1]!.deletedAt);
    assert.equal(history.messages[1]!.content, '');
    assert.deepEqual(history.messages[2]!.reactions, [{ emoji: '🎉', userIds: ['bob'] }]);

    // Sequence numbers and deduplication continue where they were.
    const aliceAgain = await connect(server, 'alice');
    const retry = await ok<{ message: Msg; duplicate: boolean }>(aliceAgain, 'message:send', { conversationId: id, clientMessageId: 'p4', content: 'm4' });
    assert.equal(retry.duplicate, true);
    assert.equal(retry.message.id, sent[3]!.id);
    const next = await ok<{ message: Msg }>(aliceAgain, 'message:send', { conversationId: id, clientMessageId: 'p5', content: 'm5' });
    assert.equal(next.message.seq, 5);
    const direct = await createRoom(aliceAgain, 'direct', ['bob']);
    const sameDirect = await createRoom(bobAgain, 'direct', ['alice']);
    assert.equal(direct.conversation.id, sameDirect.conversation.id);
  });
});

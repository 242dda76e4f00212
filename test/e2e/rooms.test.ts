import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { closeClients, connect, createRoom, fails, next, ok, record, settle, startServer, type ConversationData, type TestServer } from '../helpers/harness.js';

describe('rooms', () => {
  let server: TestServer;
  let alice: Socket;
  let bob: Socket;
  let carol: Socket;
  let dan: Socket;

  before(async () => {
    server = await startServer({ SWITCHBOARD_RATE_LIMITS: 'room=200' });
    alice = await connect(server, 'alice');
    bob = await connect(server, 'bob');
    carol = await connect(server, 'carol');
    dan = await connect(server, 'dan');
  });
  after(async () => {
    closeClients();
    await server.dispose();
  });

  it('creates one direct conversation per pair, whoever starts it', async () => {
    const told = next<ConversationData>(bob, 'room:created');
    const first = await createRoom(alice, 'direct', ['bob']);
    assert.equal(first.created, true);
    assert.equal(first.conversation.type, 'direct');
    assert.deepEqual(first.members.map((m) => m.userId).sort(), ['alice', 'bob']);
    assert.equal((await told).payload.data.conversation.id, first.conversation.id);
    const again = await createRoom(bob, 'direct', ['alice']);
    assert.equal(again.created, false);
    assert.equal(again.conversation.id, first.conversation.id);
    const bad = await fails(alice, 'room:create', { type: 'direct', members: ['bob', 'carol'] });
    assert.equal(bad.code, 'VALIDATION_FAILED');
    assert.equal((await fails(alice, 'room:create', { type: 'direct', members: ['alice'] })).code, 'VALIDATION_FAILED');
  });

  it('creates a group with the creator as owner and tells the members', async () => {
    const told = next<ConversationData>(carol, 'room:created', (d) => d.conversation.name === 'planning');
    const group = await createRoom(alice, 'group', ['bob', 'carol', 'bob'], { name: 'planning', metadata: { topic: 'q3' } });
    assert.equal(group.conversation.isPublic, false);
    assert.deepEqual(Object.fromEntries(group.members.map((m) => [m.userId, m.role])), { alice: 'owner', bob: 'member', carol: 'member' });
    assert.equal((await told).payload.data.members.length, 3);
    const list = await ok<{ conversations: { id: string; role: string; lastSeq: number; readSeq: number }[] }>(bob, 'room:list', {});
    const entry = list.conversations.find((c) => c.id === group.conversation.id);
    assert.deepEqual(entry && { role: entry.role, lastSeq: entry.lastSeq, readSeq: entry.readSeq }, { role: 'member', lastSeq: 0, readSeq: 0 });
  });

  it('lets anyone in the tenant join a public channel but not a private group', async () => {
    const channel = await createRoom(alice, 'channel', [], { name: 'announcements' });
    assert.equal(channel.conversation.isPublic, true);
    const joinedSeen = next<{ member: { userId: string } }>(alice, 'room:member_joined', (d) => d.member.userId === 'dan');
    const joined = await ok<ConversationData>(dan, 'room:join', { conversationId: channel.conversation.id });
    assert.ok(joined.members.some((m) => m.userId === 'dan' && m.role === 'member'));
    await joinedSeen;
    const rejoin = await ok<ConversationData>(dan, 'room:join', { conversationId: channel.conversation.id });
    assert.equal(rejoin.members.filter((m) => m.userId === 'dan').length, 1);

    const secret = await createRoom(alice, 'group', ['bob'], { name: 'secret' });
    assert.equal((await fails(dan, 'room:join', { conversationId: secret.conversation.id })).code, 'FORBIDDEN');
    assert.equal((await fails(dan, 'room:get', { conversationId: secret.conversation.id })).code, 'NOT_A_MEMBER');
    assert.equal((await fails(dan, 'room:join', { conversationId: 'does-not-exist' })).code, 'NOT_FOUND');
  });

  it('lets members leave, passes ownership on, and refuses leaving a direct conversation', async () => {
    const group = await createRoom(carol, 'group', ['alice', 'bob'], { name: 'handover' });
    const left = next<{ userId: string }>(alice, 'room:member_left', (d) => d.userId === 'carol');
    await ok(carol, 'room:leave', { conversationId: group.conversation.id });
    await left;
    const view = await ok<ConversationData>(alice, 'room:get', { conversationId: group.conversation.id });
    assert.deepEqual(view.members.map((m) => m.userId).sort(), ['alice', 'bob']);
    assert.equal(view.members.filter((m) => m.role === 'owner').length, 1);
    assert.equal((await fails(carol, 'message:send', { conversationId: group.conversation.id, clientMessageId: 'x', content: 'still here?' })).code, 'NOT_A_MEMBER');

    const dm = await createRoom(alice, 'direct', ['dan']);
    assert.equal((await fails(dan, 'room:leave', { conversationId: dm.conversation.id })).code, 'FORBIDDEN');
  });

  it('lets owners and admins update a conversation and its members; others are refused', async () => {
    const group = await createRoom(alice, 'group', ['bob'], { name: 'before' });
    const id = group.conversation.id;
    assert.equal((await fails(bob, 'room:update', { conversationId: id, name: 'hijack' })).code, 'FORBIDDEN');

    const carolTold = next<ConversationData & { added: string[] }>(carol, 'room:updated', (d) => d.conversation.id === id);
    const updated = await ok<ConversationData>(alice, 'room:update', { conversationId: id, name: 'after', addMembers: ['carol'], promote: ['bob'] });
    assert.equal(updated.conversation.name, 'after');
    assert.deepEqual((await carolTold).payload.data.added, ['carol']);
    assert.equal(updated.members.find((m) => m.userId === 'bob')?.role, 'admin');

    // An admin may manage members but not roles, nor remove the owner.
    assert.equal((await fails(bob, 'room:update', { conversationId: id, promote: ['carol'] })).code, 'FORBIDDEN');
    assert.equal((await fails(bob, 'room:update', { conversationId: id, removeMembers: ['alice'] })).code, 'FORBIDDEN');
    const removedTold = next<{ removed: string[] }>(carol, 'room:updated', (d) => d.removed.includes('carol'));
    const after = await ok<ConversationData>(bob, 'room:update', { conversationId: id, removeMembers: ['carol'], metadata: { color: 'blue' } });
    assert.deepEqual(after.members.map((m) => m.userId).sort(), ['alice', 'bob']);
    await removedTold;
    assert.equal((await fails(carol, 'room:get', { conversationId: id })).code, 'NOT_A_MEMBER');
  });

  it('keeps membership changes away from non-members', async () => {
    const events = record(dan, 'room:updated');
    const group = await createRoom(alice, 'group', ['bob'], { name: 'quiet' });
    await ok(alice, 'room:update', { conversationId: group.conversation.id, name: 'still quiet' });
    await settle(dan);
    assert.equal(events.length, 0);
  });
});

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { call, closeClients, connect, createRoom, fails, next, ok, record, settle, startServer, until, type AckBody, type TestServer } from '../helpers/harness.js';

interface Msg { id: string; seq: number; clientMessageId: string; senderId: string; content: string }
interface History { messages: Msg[]; hasMore: boolean }
interface Field { field: string; message: string }
interface ErrorData { event: string; error: { code: string; message: string; retryable: boolean; details?: unknown } }
interface DisconnectData { code: string; message: string; reconnect: boolean }
type Sent = { message: Msg; duplicate: boolean };

const MAX_EVENT_BYTES = 1024;
const MAX_ATTACHMENT_BYTES = 4096;
const MESSAGES_PER_SECOND = 10;

/** Every message of a conversation, oldest first, walking the history pages. */
async function everything(socket: Socket, conversationId: string): Promise<Msg[]> {
  const all: Msg[] = [];
  for (;;) {
    const page = await ok<History>(socket, 'message:history', { conversationId, after: all.at(-1)?.seq ?? 0, limit: 100 });
    all.push(...page.messages);
    if (!page.hasMore) return all;
  }
}

const contentOf = (clientMessageId: string) => `content of ${clientMessageId}`;
const fieldsOf = (details: unknown): string[] => (details as Field[]).map((d) => d.field).sort();

/** A sender, a member who receives, their conversation and what is stored in it. */
interface Scene { sender: Socket; member: Socket; room: string; stored: string[] }

describe('bad input over the socket', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      SWITCHBOARD_MAX_EVENT_BYTES: String(MAX_EVENT_BYTES),
      SWITCHBOARD_MAX_ATTACHMENT_BYTES: String(MAX_ATTACHMENT_BYTES),
      SWITCHBOARD_RATE_LIMITS: `message=${MESSAGES_PER_SECOND}`,
      SWITCHBOARD_MAX_REJECTIONS: '100000',
    });
  });
  afterEach(closeClients);
  after(() => server.dispose());

  const scene = async (name: string): Promise<Scene> => {
    const sender = await connect(server, `${name}-sender`);
    const member = await connect(server, `${name}-member`);
    const room = (await createRoom(sender, 'group', [`${name}-member`], { name })).conversation.id;
    const s: Scene = { sender, member, room, stored: [] };
    for (const id of ['before-1', 'before-2']) {
      await ok(sender, 'message:send', { conversationId: room, clientMessageId: id, content: contentOf(id) });
      s.stored.push(id);
    }
    return s;
  };

  /** The connection still works (a good send is acked and delivered) and the stored messages are intact. */
  const healthy = async (s: Scene): Promise<void> => {
    const id = `good-${s.stored.length}`;
    const delivered = next<Msg>(s.member, 'message:new', (m) => m.clientMessageId === id);
    const sent = await ok<Sent>(s.sender, 'message:send', { conversationId: s.room, clientMessageId: id, content: contentOf(id) });
    assert.equal(sent.duplicate, false);
    assert.equal((await delivered).payload.data.id, sent.message.id);
    s.stored.push(id);
    const all = await everything(s.sender, s.room);
    assert.deepEqual(all.map((m) => m.clientMessageId), s.stored, 'exactly the accepted messages are stored, in order');
    assert.deepEqual(all.map((m) => m.seq), s.stored.map((_, i) => i + 1), 'without gaps');
    for (const m of all) assert.equal(m.content, contentOf(m.clientMessageId));
  };

  it('answers a wrong type with VALIDATION_FAILED naming the field', async () => {
    const s = await scene('types');
    const cases: [string, string, unknown, string[]][] = [
      ['content a number', 'message:send', { conversationId: s.room, clientMessageId: 'bad-1', content: 42 }, ['content']],
      ['content missing', 'message:send', { conversationId: s.room, clientMessageId: 'bad-2' }, ['content']],
      ['content binary', 'message:send', { conversationId: s.room, clientMessageId: 'bad-3', content: new Uint8Array([1]) }, ['content']],
      ['two wrong fields', 'message:send', { conversationId: s.room, clientMessageId: 7, content: { text: 'hi' } }, ['clientMessageId', 'content']],
      ['conversationId with a slash', 'message:send', { conversationId: 'a/b', clientMessageId: 'bad-5', content: 'x' }, ['conversationId']],
      ['type not in the enum', 'message:send', { conversationId: s.room, clientMessageId: 'bad-6', content: 'x', type: 'system' }, ['type']],
      ['unknown field', 'message:send', { conversationId: s.room, clientMessageId: 'bad-7', content: 'x', priority: 1 }, ['(root)']],
      ['payload null', 'message:send', null, ['(root)']],
      ['payload a string', 'message:send', 'hello', ['(root)']],
      ['payload an array', 'message:send', [{ conversationId: s.room, clientMessageId: 'bad-8', content: 'x' }], ['(root)']],
      ['seq a string', 'message:read', { conversationId: s.room, seq: '3' }, ['seq']],
      ['seq negative', 'message:read', { conversationId: s.room, seq: -1 }, ['seq']],
      ['seq fractional', 'message:read', { conversationId: s.room, seq: 1.5 }, ['seq']],
      ['limit over the page size', 'message:history', { conversationId: s.room, limit: 101 }, ['limit']],
      ['before and after', 'message:history', { conversationId: s.room, before: 3, after: 1 }, ['(root)']],
      ['room type unknown', 'room:create', { type: 'forum', members: [] }, ['type']],
      ['member id of the wrong type', 'room:create', { type: 'group', members: ['ok', 3] }, ['members.1']],
      ['members not a list', 'room:create', { type: 'group', members: 'bob' }, ['members']],
      ['emoji empty', 'message:react', { conversationId: s.room, messageId: 'm', emoji: '' }, ['emoji']],
      ['userIds empty', 'presence:query', { userIds: [] }, ['userIds']],
      ['room:list with a field', 'room:list', { all: true }, ['(root)']],
    ];
    for (const [what, event, payload, expected] of cases) {
      const error = await fails(s.sender, event, payload);
      assert.equal(error.code, 'VALIDATION_FAILED', what);
      assert.equal(error.retryable, false, what);
      assert.deepEqual(fieldsOf(error.details), [...expected].sort(), `${what}: ${JSON.stringify(error.details)}`);
      for (const d of error.details as Field[]) assert.ok(d.message.length > 0, what);
      // The connection answers the next good call at once.
      await ok(s.sender, 'room:get', { conversationId: s.room });
    }
    await healthy(s);
  });

  it('answers an unknown event with UNKNOWN_EVENT naming it', async () => {
    const s = await scene('unknown');
    for (const event of ['message:explode', 'constructor', '__proto__', 'toString', 'ROOM:LIST', 'room:list ']) {
      const error = await fails(s.sender, event, { conversationId: s.room });
      assert.equal(error.code, 'UNKNOWN_EVENT', event);
      assert.deepEqual(error.details, { event });
      await ok(s.sender, 'room:get', { conversationId: s.room });
    }
    const long = `x${'y'.repeat(200)}`;
    const error = await fails(s.sender, long, {});
    assert.equal(error.code, 'UNKNOWN_EVENT');
    assert.deepEqual(error.details, { event: long.slice(0, 64) }, 'a long name is cut in the answer');
    // Without a callback, the refusal arrives as server:error.
    const told = next<ErrorData>(s.sender, 'server:error');
    s.sender.emit('no:such:thing', {});
    const env = await told;
    assert.deepEqual([env.type, env.payload.action, env.payload.data.event, env.payload.data.error.code], ['error', 'server:error', 'no:such:thing', 'UNKNOWN_EVENT']);
    await healthy(s);
  });

  it('refuses every event that requires an ack when sent without one, with a server:error envelope, and does not run it', async () => {
    const s = await scene('noack');
    const before = await ok<{ conversations: { id: string }[] }>(s.sender, 'room:list', {});
    const required: [string, unknown][] = [
      ['message:send', { conversationId: s.room, clientMessageId: 'lost', content: 'never stored' }],
      ['room:create', { type: 'group', members: [], name: 'never created' }],
      ['room:leave', { conversationId: s.room }],
      ['room:update', { conversationId: s.room, name: 'never renamed' }],
      ['message:read', { conversationId: s.room, seq: 1 }],
      ['message:history', { conversationId: s.room }],
      ['room:list', {}],
      ['presence:query', { userIds: ['x'] }],
    ];
    const memberSeen = record(s.member, 'message:new');
    for (const [event, payload] of required) {
      const told = next<ErrorData>(s.sender, 'server:error', (d) => d.event === event);
      s.sender.emit(event, payload);
      const env = await told;
      assert.equal(env.type, 'error');
      assert.equal(env.payload.action, 'server:error');
      assert.equal(env.tenant_id, 'acme');
      assert.equal(env.payload.data.error.code, 'ACK_REQUIRED', event);
      assert.equal(env.payload.data.error.retryable, false);
    }
    await settle(s.member);
    assert.equal(memberSeen.length, 0, 'the refused send was not delivered');
    const afterwards = await ok<{ conversations: { id: string; name: string | null }[] }>(s.sender, 'room:list', {});
    assert.deepEqual(afterwards.conversations.map((c) => c.id), before.conversations.map((c) => c.id), 'no room was created or left');
    const room = await ok<{ conversation: { name: string }; readCursors: unknown[] }>(s.sender, 'room:get', { conversationId: s.room });
    assert.equal(room.conversation.name, 'noack', 'the refused update did nothing');
    assert.deepEqual(room.readCursors, [], 'the refused read did nothing');
    // Fire-and-forget events are fine without an ack; they fail through server:error only when invalid.
    const typingSeen = next<{ typers: string[] }>(s.member, 'typing:update', (d) => d.typers.includes('noack-sender'));
    s.sender.emit('typing:start', { conversationId: s.room });
    await typingSeen;
    const invalid = next<ErrorData>(s.sender, 'server:error', (d) => d.event === 'typing:stop');
    s.sender.emit('typing:stop', { conversationId: 5 });
    const error = (await invalid).payload.data.error;
    assert.equal(error.code, 'VALIDATION_FAILED');
    assert.deepEqual(fieldsOf(error.details), ['conversationId']);
    await healthy(s);
  });

  it('refuses more than one argument, or none, without running the event', async () => {
    const s = await scene('args');
    const good = { conversationId: s.room, clientMessageId: 'two-args', content: 'x' };
    const two = (await s.sender.timeout(5000).emitWithAck('message:send', good, { extra: true })) as AckBody<Sent>;
    assert.ok(!two.ok);
    assert.equal(two.error.code, 'VALIDATION_FAILED');
    assert.deepEqual(two.error.details, [{ field: '(root)', message: 'expected one argument' }]);
    const three = (await s.sender.timeout(5000).emitWithAck('message:send', good, 1, 2)) as AckBody<Sent>;
    assert.ok(!three.ok && three.error.code === 'VALIDATION_FAILED');
    const none = await call(s.sender, 'message:send');
    assert.ok(!none.ok);
    assert.equal(none.error.code, 'VALIDATION_FAILED');
    assert.deepEqual(fieldsOf(none.error.details), ['(root)']);
    // Without an ack, too many arguments to a fire-and-forget event arrive as server:error.
    const told = next<ErrorData>(s.sender, 'server:error', (d) => d.event === 'typing:start');
    s.sender.emit('typing:start', { conversationId: s.room }, 'second');
    assert.equal((await told).payload.data.error.code, 'VALIDATION_FAILED');
    await healthy(s);
  });

  it('refuses a payload over SWITCHBOARD_MAX_EVENT_BYTES with PAYLOAD_TOO_LARGE, not counting attachments', async () => {
    const s = await scene('size');
    const overhead = Buffer.byteLength(JSON.stringify({ conversationId: s.room, clientMessageId: 'big', content: '' }));
    const exact = { conversationId: s.room, clientMessageId: 'exact', content: 'y'.repeat(MAX_EVENT_BYTES - overhead - 2) };
    assert.equal(Buffer.byteLength(JSON.stringify(exact)), MAX_EVENT_BYTES);
    const bigPayload = { conversationId: s.room, clientMessageId: 'big', content: 'x'.repeat(MAX_EVENT_BYTES - overhead + 1) };
    const error = await fails(s.sender, 'message:send', bigPayload);
    assert.equal(error.code, 'PAYLOAD_TOO_LARGE');
    assert.equal(error.retryable, false);
    assert.deepEqual(error.details, { limit: MAX_EVENT_BYTES, size: Buffer.byteLength(JSON.stringify(bigPayload)) });
    // Multi-byte characters count as bytes, not characters.
    const emoji = await fails(s.sender, 'message:send', { conversationId: s.room, clientMessageId: 'emoji', content: '😀'.repeat(300) });
    assert.equal(emoji.code, 'PAYLOAD_TOO_LARGE');
    // Exactly at the limit is accepted.
    await ok(s.sender, 'message:send', exact);
    s.stored.push('exact');
    // A binary attachment larger than the JSON limit is measured against its own limit.
    const withFile = await ok<Sent>(s.sender, 'message:send', { conversationId: s.room, clientMessageId: 'file', type: 'media', content: contentOf('file'), attachment: new Uint8Array(MAX_ATTACHMENT_BYTES) });
    assert.equal(withFile.duplicate, false);
    s.stored.push('file');
    const tooBig = await fails(s.sender, 'message:send', { conversationId: s.room, clientMessageId: 'huge-file', type: 'media', content: 'x', attachment: new Uint8Array(MAX_ATTACHMENT_BYTES + 1) });
    assert.equal(tooBig.code, 'PAYLOAD_TOO_LARGE');
    assert.deepEqual(tooBig.details, { limit: MAX_ATTACHMENT_BYTES });
    // The refused big message was not stored; the exact one was.
    const all = await everything(s.sender, s.room);
    assert.equal(all.find((m) => m.clientMessageId === 'exact')?.content, exact.content);
    assert.ok(!all.some((m) => ['big', 'emoji', 'huge-file'].includes(m.clientMessageId)));
    // Restore the content convention of the scene for the final check.
    await ok(s.sender, 'message:edit', { conversationId: s.room, messageId: all.find((m) => m.clientMessageId === 'exact')!.id, content: contentOf('exact') });
    await healthy(s);
  });

  it('refuses a flood with RATE_LIMITED, serves the same connection again after the refill, and loses nothing it acknowledged', async () => {
    const s = await scene('flood');
    const delivered = record<Msg>(s.member, 'message:new');
    const flood = 300;
    const acks = await Promise.all(Array.from({ length: flood }, (_, i) => call<Sent>(s.sender, 'message:send', { conversationId: s.room, clientMessageId: `f${i}`, content: contentOf(`f${i}`) })));
    const accepted: { id: string; seq: number; messageId: string }[] = [];
    let limited = 0;
    acks.forEach((a, i) => {
      if (a.ok) {
        accepted.push({ id: `f${i}`, seq: a.data.message.seq, messageId: a.data.message.id });
        return;
      }
      limited += 1;
      assert.equal(a.error.code, 'RATE_LIMITED', `f${i}`);
      assert.equal(a.error.retryable, true);
      const details = a.error.details as { retryAfterMs: number; limit: string };
      assert.equal(details.limit, 'message');
      assert.ok(details.retryAfterMs > 0 && details.retryAfterMs <= 1000 / MESSAGES_PER_SECOND, `retryAfterMs ${details.retryAfterMs}`);
    });
    assert.ok(limited > 0, 'part of the flood was refused');
    // The burst (twice the rate) was accepted; far from all of the flood.
    assert.ok(accepted.length >= 2 * MESSAGES_PER_SECOND - 2 && accepted.length < flood / 2, `${accepted.length} accepted`);
    // Accepted messages got consecutive sequence numbers in the order they were sent.
    assert.deepEqual(accepted.map((a) => a.seq), accepted.map((_, i) => s.stored.length + 1 + i));

    // Other event classes and other connections are not limited meanwhile.
    await ok(s.sender, 'room:list', {});
    const sameUserElsewhere = await connect(server, 'flood-sender', { device: 'other' });
    await ok(sameUserElsewhere, 'message:send', { conversationId: s.room, clientMessageId: 'elsewhere', content: contentOf('elsewhere') });

    // The same connection works again once the bucket has refilled.
    await until(async () => (await call(s.sender, 'message:send', { conversationId: s.room, clientMessageId: 'refilled', content: contentOf('refilled') })).ok, 5000, 25);
    s.stored.push(...accepted.map((a) => a.id), 'elsewhere', 'refilled');

    const all = await everything(s.sender, s.room);
    assert.deepEqual(all.map((m) => m.clientMessageId), s.stored, 'every acknowledged message is stored once, in order');
    const byClientId = new Map(all.map((m) => [m.clientMessageId, m]));
    for (const a of accepted) assert.equal(byClientId.get(a.id)?.id, a.messageId, 'stored as acknowledged');

    // The member received each acknowledged message exactly once, in order, and nothing refused.
    await settle(s.member);
    const got = delivered.map((e) => e.payload.data.clientMessageId);
    assert.deepEqual(got, [...accepted.map((a) => a.id), 'elsewhere', 'refilled']);
    for (const m of all) assert.equal(m.content, contentOf(m.clientMessageId));
  });

  it('refuses a binary attachment when SWITCHBOARD_BINARY is false, and keeps the connection', async () => {
    const strict = await startServer({ SWITCHBOARD_BINARY: 'false', SWITCHBOARD_STORE: 'memory' });
    try {
      const sender = await connect(strict, 'bin-sender');
      const member = await connect(strict, 'bin-member');
      const room = (await createRoom(sender, 'direct', ['bin-member'])).conversation.id;
      const seen = record(member, 'message:new');
      for (const attachment of [new Uint8Array([1, 2, 3]), Buffer.from('file'), new Uint8Array(0)]) {
        const error = await fails(sender, 'message:send', { conversationId: room, clientMessageId: 'b1', type: 'media', content: 'file', attachment });
        assert.equal(error.code, 'VALIDATION_FAILED');
        assert.deepEqual(fieldsOf(error.details), ['attachment']);
      }
      await settle(member);
      assert.equal(seen.length, 0, 'a refused attachment is not delivered');
      const sent = await ok<Sent>(sender, 'message:send', { conversationId: room, clientMessageId: 'b2', content: 'text still works' });
      assert.equal(sent.message.seq, 1, 'nothing was stored for the refused sends');
      const history = await ok<History>(member, 'message:history', { conversationId: room });
      assert.deepEqual(history.messages.map((m) => m.clientMessageId), ['b2']);
    } finally {
      closeClients();
      await strict.dispose();
    }
  });
});

describe('a client that keeps sending bad input', () => {
  const LIMIT = 5;
  let server: TestServer;
  before(async () => {
    server = await startServer({ SWITCHBOARD_MAX_REJECTIONS: String(LIMIT), SWITCHBOARD_STORE: 'memory' });
  });
  afterEach(closeClients);
  after(() => server.dispose());

  /** Records, in arrival order, every event and the acks of `calls` sent through `emitAcked`. */
  const journal = (socket: Socket) => {
    const log: string[] = [];
    socket.onAny((event: string) => log.push(event));
    socket.on('disconnect', (reason) => log.push(`disconnect:${reason}`));
    const emitAcked = (label: string, event: string, payload: unknown) => socket.emit(event, payload, (body: AckBody<unknown>) => log.push(`ack:${label}:${body.ok ? 'ok' : body.error.code}`));
    return { log, emitAcked };
  };

  it(`is told POLICY_VIOLATION in session:disconnect and closed after more than ${LIMIT} rejections`, async () => {
    const rogue = await connect(server, 'rogue', { device: 'one' });
    const sameUser = await connect(server, 'rogue', { device: 'two' });
    const bystander = await connect(server, 'bystander');
    const room = (await createRoom(rogue, 'direct', ['bystander'])).conversation.id;
    await ok(rogue, 'message:send', { conversationId: room, clientMessageId: 'kept', content: 'stored before' });

    // Rejections of every counted kind: unknown, missing ack, schema, size is not reached here.
    const { log, emitAcked } = journal(rogue);
    const told = next<DisconnectData>(rogue, 'session:disconnect');
    const closed = new Promise<string>((resolve) => rogue.once('disconnect', resolve));
    emitAcked('1', 'no:such:event', {});
    rogue.emit('message:send', { conversationId: room, clientMessageId: 'x', content: 'no ack' });
    emitAcked('3', 'message:send', { conversationId: room, clientMessageId: 3, content: 3 });
    emitAcked('4', 'room:get', { conversationId: 'a/b' });
    emitAcked('5', 'other:unknown', {});
    // Still open at the limit: a good call goes through.
    await ok(rogue, 'room:list', {});
    assert.equal(rogue.connected, true);
    emitAcked('6', 'no:such:event', {});

    const env = await told;
    assert.equal(env.type, 'event');
    assert.equal(env.tenant_id, 'acme');
    assert.equal(env.payload.action, 'session:disconnect');
    assert.deepEqual(env.payload.data, { code: 'POLICY_VIOLATION', message: 'Too many rejected events; the connection was closed', reconnect: false });
    assert.equal(await closed, 'io server disconnect');
    assert.deepEqual(log.slice(-3), ['ack:6:UNKNOWN_EVENT', 'session:disconnect', 'disconnect:io server disconnect'], 'the last refusal is answered, then the reason, then the close');
    for (const label of ['ack:1:UNKNOWN_EVENT', 'ack:3:VALIDATION_FAILED', 'ack:4:VALIDATION_FAILED', 'ack:5:UNKNOWN_EVENT']) assert.ok(log.includes(label), label);
    assert.ok(log.includes('server:error'), 'the send without an ack was answered with server:error');

    // Only that connection was closed; the user's other device and other users are unaffected.
    assert.equal(sameUser.connected, true);
    await ok(sameUser, 'room:list', {});
    await ok(bystander, 'room:list', {});
    // Stored messages are intact, and nothing the rogue sent while refused was stored.
    const history = await ok<History>(sameUser, 'message:history', { conversationId: room });
    assert.deepEqual(history.messages.map((m) => m.clientMessageId), ['kept']);
    // The user may connect again (reconnect: false only asks the client not to retry on its own).
    const again = await connect(server, 'rogue', { device: 'one' });
    await ok(again, 'message:send', { conversationId: room, clientMessageId: 'after', content: 'back' });
  });

  it('does not count errors of the event itself (NOT_FOUND, NOT_A_MEMBER, FORBIDDEN) as rejections', async () => {
    const alice = await connect(server, 'polite');
    await connect(server, 'friend');
    const outsider = await connect(server, 'outsider');
    const dm = (await createRoom(alice, 'direct', ['friend'])).conversation.id;
    const disconnects = record(outsider, 'session:disconnect');
    for (let i = 0; i < LIMIT * 3; i++) {
      assert.equal((await fails(outsider, 'message:send', { conversationId: 'missing', clientMessageId: `m${i}`, content: 'x' })).code, 'NOT_FOUND');
      assert.equal((await fails(outsider, 'message:history', { conversationId: dm })).code, 'NOT_A_MEMBER');
      assert.equal((await fails(outsider, 'room:join', { conversationId: dm })).code, 'FORBIDDEN');
    }
    await settle(outsider);
    assert.equal(disconnects.length, 0);
    assert.equal(outsider.connected, true);
  });

  it('counts rate-limited and oversized events as rejections', async () => {
    // One message every 5 s, burst 1: nothing refills while the test runs.
    const small = await startServer({ SWITCHBOARD_MAX_REJECTIONS: String(LIMIT), SWITCHBOARD_RATE_LIMITS: 'message=0.2', SWITCHBOARD_STORE: 'memory' });
    try {
      const flooder = await connect(small, 'flooder');
      await connect(small, 'target');
      const dm = (await createRoom(flooder, 'direct', ['target'])).conversation.id;
      // The burst is used up; sends right after it are refused, and the sixth refusal closes.
      await ok(flooder, 'message:send', { conversationId: dm, clientMessageId: 'r0', content: 'x' });
      const told = next<DisconnectData>(flooder, 'session:disconnect');
      const acks = Array.from({ length: LIMIT + 1 }, (_, i) => new Promise<string>((resolve) => {
        flooder.emit('message:send', { conversationId: dm, clientMessageId: `l${i}`, content: 'x' }, (b: AckBody<unknown>) => resolve(b.ok ? 'ok' : b.error.code));
      }));
      assert.deepEqual(await Promise.all(acks), Array.from({ length: LIMIT + 1 }, () => 'RATE_LIMITED'));
      assert.equal((await told).payload.data.code, 'POLICY_VIOLATION');

      const oversized = await connect(small, 'oversized');
      const closedToo = next<DisconnectData>(oversized, 'session:disconnect');
      for (let i = 0; i <= LIMIT; i++) oversized.emit('room:list', { pad: 'x'.repeat(70_000) }, () => undefined);
      assert.equal((await closedToo).payload.data.code, 'POLICY_VIOLATION');
    } finally {
      closeClients();
      await small.dispose();
    }
  });
});

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { call, closeClients, connect, createRoom, fails, next, ok, until, startServer, type TestServer } from '../helpers/harness.js';

interface Msg { seq: number; clientMessageId: string; content: string }
interface History { messages: Msg[]; hasMore: boolean }
interface ServerError { event: string; error: { code: string; message: string } }
interface Field { field: string; message: string }

/** Every message of a conversation, oldest first. */
async function everything(socket: Socket, conversationId: string): Promise<Msg[]> {
  const all: Msg[] = [];
  for (;;) {
    const page = await ok<History>(socket, 'message:history', { conversationId, after: all.at(-1)?.seq ?? 0, limit: 100 });
    all.push(...page.messages);
    if (!page.hasMore) return all;
  }
}

describe('bad input over the socket', () => {
  let server: TestServer;
  let alice: Socket;
  let room: string;
  before(async () => {
    server = await startServer({ SWITCHBOARD_MAX_EVENT_BYTES: '2048', SWITCHBOARD_RATE_LIMITS: 'message=20', SWITCHBOARD_MAX_REJECTIONS: '1000' });
  });
  afterEach(closeClients);
  after(() => server.dispose());

  const fresh = async (user: string) => {
    alice = await connect(server, user);
    await connect(server, `${user}-friend`);
    room = (await createRoom(alice, 'direct', [`${user}-friend`])).conversation.id;
    await ok(alice, 'message:send', { conversationId: room, clientMessageId: 'kept', content: 'stored before the bad input' });
  };
  /** The connection still works and what was stored is still there. */
  const healthy = async () => {
    const stored = await everything(alice, room);
    assert.ok(stored.some((m) => m.clientMessageId === 'kept'), 'the message stored before is still there');
  };

  it('names each field of the wrong type', async () => {
    await fresh('types');
    const err = await fails(alice, 'message:send', { conversationId: room, clientMessageId: 42, content: { text: 'hi' } });
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.equal(err.retryable, false);
    assert.deepEqual((err.details as Field[]).map((d) => d.field).sort(), ['clientMessageId', 'content']);
    assert.equal((await fails(alice, 'message:send', { conversationId: room, clientMessageId: 'x', content: 'hi', extra: 1 })).code, 'VALIDATION_FAILED');
    assert.equal((await fails(alice, 'message:read', { conversationId: room, seq: -1 })).code, 'VALIDATION_FAILED');
    assert.equal((await fails(alice, 'room:create', 'not an object')).code, 'VALIDATION_FAILED');
    assert.equal((await fails(alice, 'message:history', { conversationId: '../../etc/passwd' })).code, 'VALIDATION_FAILED');
    await healthy();
  });

  it('refuses an unknown event, and more than one argument', async () => {
    await fresh('unknown');
    const err = await fails(alice, 'message:explode', { conversationId: room });
    assert.equal(err.code, 'UNKNOWN_EVENT');
    assert.deepEqual(err.details, { event: 'message:explode' });
    const two = await alice.timeout(5000).emitWithAck('message:send', { conversationId: room }, 'second') as { ok: false; error: { code: string } };
    assert.equal(two.error.code, 'VALIDATION_FAILED');
    await healthy();
  });

  it('refuses a state-changing event sent without an acknowledgement, with a server:error', async () => {
    await fresh('noack');
    const error = next<ServerError>(alice, 'server:error');
    alice.emit('message:send', { conversationId: room, clientMessageId: 'lost', content: 'no ack' });
    const env = await error;
    assert.deepEqual([env.type, env.payload.data.event, env.payload.data.error.code], ['error', 'message:send', 'ACK_REQUIRED']);
    const stored = await everything(alice, room);
    assert.equal(stored.some((m) => m.clientMessageId === 'lost'), false, 'an event refused for a missing ack is not executed');
    await healthy();
  });

  it('refuses an oversized payload and keeps the connection', async () => {
    await fresh('big');
    const err = await fails(alice, 'message:send', { conversationId: room, clientMessageId: 'big', content: 'x'.repeat(4000) });
    assert.equal(err.code, 'PAYLOAD_TOO_LARGE');
    assert.equal((err.details as { limit: number }).limit, 2048);
    await healthy();
  });

  it('answers a flood with RATE_LIMITED, loses nothing it acknowledged, and serves the same connection again', async () => {
    await fresh('flood');
    const acks = await Promise.all(Array.from({ length: 150 }, (_, i) => call<{ message: Msg }>(alice, 'message:send', { conversationId: room, clientMessageId: `f${i}`, content: `flood ${i}` })));
    const accepted = acks.flatMap((a, i) => (a.ok ? [`f${i}`] : []));
    const limited = acks.filter((a) => !a.ok);
    assert.ok(limited.length > 0, 'some of the flood was refused');
    assert.ok(accepted.length >= 30, `most of the burst was accepted (${accepted.length})`);
    for (const a of limited) {
      if (a.ok) continue;
      assert.equal(a.error.code, 'RATE_LIMITED');
      assert.equal(a.error.retryable, true);
      assert.ok((a.error.details as { retryAfterMs: number }).retryAfterMs > 0);
    }
    // The same connection works again once the bucket refills.
    await until(async () => (await call(alice, 'message:send', { conversationId: room, clientMessageId: 'after', content: 'calm again' })).ok, 10_000, 100);
    const stored = await everything(alice, room);
    const flood = stored.filter((m) => m.clientMessageId.startsWith('f')).map((m) => m.clientMessageId);
    assert.deepEqual(flood, accepted, 'exactly the acknowledged messages are stored, once each, in order');
    assert.deepEqual(stored.map((m) => m.seq), stored.map((_, i) => i + 1), 'sequence numbers have no gaps');
    await healthy();
  });

  it('refuses a binary attachment when binary payloads are disabled', async () => {
    const strict = await startServer({ SWITCHBOARD_BINARY: 'false' });
    try {
      const a = await connect(strict, 'bin');
      await connect(strict, 'bin-friend');
      const direct = (await createRoom(a, 'direct', ['bin-friend'])).conversation.id;
      const err = await fails(a, 'message:send', { conversationId: direct, clientMessageId: 'b1', content: 'file', attachment: Buffer.from([1, 2, 3]) });
      assert.equal(err.code, 'VALIDATION_FAILED');
      assert.deepEqual((err.details as Field[]).map((d) => d.field), ['attachment']);
      assert.equal((await ok<{ message: Msg }>(a, 'message:send', { conversationId: direct, clientMessageId: 'b2', content: 'text still works' })).message.seq, 1);
    } finally {
      closeClients();
      await strict.dispose();
    }
  });
});

describe('a client that keeps sending bad input', () => {
  it('is told POLICY_VIOLATION and disconnected, and others are unaffected', async () => {
    const server = await startServer({ SWITCHBOARD_MAX_REJECTIONS: '5' });
    try {
      const rogue = await connect(server, 'rogue');
      const bystander = await connect(server, 'bystander');
      const told = next<{ code: string; reconnect: boolean }>(rogue, 'session:disconnect');
      const closed = new Promise<string>((resolve) => rogue.once('disconnect', resolve));
      for (let i = 0; i < 6; i++) rogue.emit('no:such:event', {}, () => undefined);
      const reason = (await told).payload.data;
      assert.equal(reason.code, 'POLICY_VIOLATION');
      assert.equal(reason.reconnect, false);
      assert.equal(await closed, 'io server disconnect');
      await ok(bystander, 'room:list', {});
    } finally {
      closeClients();
      await server.dispose();
    }
  });
});

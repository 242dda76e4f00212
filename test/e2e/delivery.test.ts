import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type { Envelope } from '../../src/domain/protocol/envelope.js';
import { closeClients, connect, connectError, createRoom, fails, next, ok, serverStatus, startServer, token, until, type TestServer } from '../helpers/harness.js';

interface Synced { head: number; replayed: number; lost: boolean }
interface Msg { id: string; seq: number; content: string; conversationId: string }

/** A device that tracks its inbox: every envelope it receives, in order, from the first packet. */
interface Device {
  socket: Socket;
  events: Envelope[];
  synced: Promise<Synced>;
  /** Events without repeats of an offset, as a client keeps them. */
  unique(): Envelope[];
  /** `message:new` contents in arrival order, repeats of an offset dropped. */
  contents(): string[];
  /** `message:new` contents as they arrived, repeats included. */
  arrivals(): string[];
}

const sockets = new Set<Socket>();
const contentOf = (events: Envelope[]) => events.filter((e) => e.payload.action === 'message:new').map((e) => (e.payload.data as Msg).content);

/** Connects with `auth.inbox`; with `autoAck` it acknowledges each offset as it arrives. */
async function device(server: TestServer, user: string, inbox: { after?: number }, o: { autoAck?: boolean } = {}): Promise<Device> {
  const socket = io(server.url, {
    auth: { token: await token(user, 'acme', { device: 'phone' }), v: 1, inbox },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  sockets.add(socket);
  const events: Envelope[] = [];
  socket.onAny((event: string, env: Envelope) => {
    if (event === 'session:ready') return;
    events.push(env);
    if (o.autoAck && env.offset !== undefined) socket.emit('inbox:ack', { offset: env.offset });
  });
  const synced = new Promise<Synced>((resolve, reject) => {
    socket.once('inbox:synced', (env: Envelope<Synced>) => resolve(env.payload.data));
    socket.once('connect_error', reject);
    socket.once('disconnect', (reason) => reject(new Error(`${user} was disconnected before its inbox was synced (${reason})`)));
  });
  await synced;
  const unique = () => {
    const seen = new Set<number>();
    return events.filter((e) => e.offset === undefined || (!seen.has(e.offset) && seen.add(e.offset) !== undefined));
  };
  return { socket, events, synced, unique, contents: () => contentOf(unique()), arrivals: () => contentOf(events) };
}


describe('acknowledged delivery through the inbox', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ SWITCHBOARD_ACK_TIMEOUT_MS: '150', SWITCHBOARD_DELIVERY_RETRIES: '2' });
  });
  after(() => server.dispose());
  afterEach(() => {
    for (const s of sockets) s.close();
    sockets.clear();
    closeClients();
  });

  it('gives every inbox event an offset, 1, 2, 3… per user, and says where the inbox stands', async () => {
    const alice = await connect(server, 'alice');
    const bob = await device(server, 'bob', {}, { autoAck: true });
    assert.deepEqual(await bob.synced, { head: 0, replayed: 0, lost: false });
    const room = await createRoom(alice, 'group', ['bob']);
    for (const content of ['one', 'two']) {
      const arrived = next(bob.socket, 'message:new', (m: Msg) => m.content === content);
      await ok(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: content, content });
      await arrived;
    }
    assert.deepEqual(bob.unique().filter((e) => e.offset !== undefined).map((e) => [e.payload.action, e.offset]), [
      ['room:created', 1], ['message:new', 2], ['message:new', 3],
    ]);
  });

  it('replays what a device missed, in order, before inbox:synced and live traffic', async () => {
    const alice = await connect(server, 'alice');
    const first = await device(server, 'carol', {});
    const room = await createRoom(alice, 'group', ['carol']);
    const created = first.events.find((e) => e.payload.action === 'room:created') ?? (await next(first.socket, 'room:created'));
    await ok(first.socket, 'inbox:ack', { offset: created.offset });
    first.socket.close();
    for (let i = 1; i <= 5; i++) await ok(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: `m${i}`, content: `missed ${i}` });

    const back = await device(server, 'carol', { after: created.offset! }, { autoAck: true });
    const synced = await back.synced;
    assert.deepEqual(synced, { head: created.offset! + 5, replayed: 5, lost: false });
    const live = next(back.socket, 'message:new', (m: Msg) => m.content === 'live');
    await ok(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'live', content: 'live' });
    await live;
    const actions = back.unique().map((e) => e.payload.action);
    assert.equal(actions.indexOf('inbox:synced'), 5, `replay first, then inbox:synced: ${actions.join(',')}`);
    assert.deepEqual(back.contents(), ['missed 1', 'missed 2', 'missed 3', 'missed 4', 'missed 5', 'live']);
    assert.deepEqual(back.unique().filter((e) => e.offset !== undefined).map((e) => e.offset), [1, 2, 3, 4, 5, 6].map((n) => created.offset! + n));
  });

  it('sends unacknowledged entries again with the same id and offset, and stops once acknowledged', async () => {
    const alice = await connect(server, 'alice');
    const dave = await device(server, 'dave', {});
    const room = await createRoom(alice, 'direct', ['dave']);
    await ok(dave.socket, 'inbox:ack', { offset: (await next(dave.socket, 'room:created')).offset });
    const original = next<Msg>(dave.socket, 'message:new', (m) => m.content === 'hello');
    await ok(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'h', content: 'hello' });
    const sent = await original;
    const again = await next<Msg>(dave.socket, 'message:new', (m) => m.content === 'hello');
    assert.deepEqual([again.id, again.offset], [sent.id, sent.offset]);
    assert.ok((await serverStatus(server)).delivery.retries >= 1);
    const acked = await ok<{ offset: number }>(dave.socket, 'inbox:ack', { offset: sent.offset });
    assert.equal(acked.offset, sent.offset);
    const count = dave.arrivals().length;
    // After the ack no resend is due: a later message is the next thing to arrive.
    const later = next<Msg>(dave.socket, 'message:new', () => true);
    await ok(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'l', content: 'later' });
    assert.equal((await later).payload.data.content, 'later');
    assert.equal(dave.arrivals().length, count + 1);
  });

  it('gives up resending after the configured retries; the entries wait for the next reconnect', async () => {
    const alice = await connect(server, 'alice');
    const retriesBefore = (await serverStatus(server)).delivery.retries;
    const room = await createRoom(alice, 'direct', ['erin']);
    // Connected after room:created, so the message is the one entry in flight: every resend carries it.
    const erin = await device(server, 'erin', {});
    await ok(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'x', content: 'unacked' });
    // Sent once, then again twice (SWITCHBOARD_DELIVERY_RETRIES=2).
    await until(() => erin.arrivals().length === 3, 5000);
    assert.deepEqual(erin.arrivals(), ['unacked', 'unacked', 'unacked']);
    assert.equal(erin.events.filter((e) => e.payload.action === 'room:created').length, 0);
    assert.equal((await serverStatus(server)).delivery.retries - retriesBefore, 2);
    erin.socket.close();
    const back = await device(server, 'erin', { after: 0 });
    assert.deepEqual(await back.synced, { head: 2, replayed: 2, lost: false });
    assert.deepEqual(back.contents(), ['unacked']);
  });

  it("lets a tracked sender's own socket have its own message, so it can acknowledge past it", async () => {
    const frank = await device(server, 'frank', {}, { autoAck: true });
    const gina = await connect(server, 'gina');
    const room = await ok<{ conversation: { id: string } }>(frank.socket, 'room:create', { type: 'direct', members: ['gina'] });
    const own = next<Msg>(frank.socket, 'message:new', (m) => m.content === 'mine');
    const theirs = next<Msg>(gina, 'message:new', (m) => m.content === 'mine');
    await ok(frank.socket, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'mine', content: 'mine' });
    assert.equal((await own).offset, 2);
    // Gina's inbox holds the same two events (room:created, then the message), also with offsets.
    assert.equal((await theirs).offset, 2);
  });

  it('answers a bad auth.inbox with connect_error and a bad inbox:ack with VALIDATION_FAILED, staying usable', async () => {
    const bad = await connectError(server, { token: await token('hank'), v: 1, inbox: { after: -3 } });
    assert.equal(bad.data?.code, 'VALIDATION_FAILED');
    assert.deepEqual(bad.data?.details, [{ field: 'inbox.after', message: bad.data?.details && (bad.data.details as { message: string }[])[0]!.message }]);
    const hank = await device(server, 'hank', {}, { autoAck: true });
    for (const payload of [{ offset: -1 }, { offset: 1.5 }, { offset: '3' }, {}, { offset: 1, extra: true }]) {
      const error = await fails(hank.socket, 'inbox:ack', payload);
      assert.equal(error.code, 'VALIDATION_FAILED', JSON.stringify(payload));
    }
    assert.deepEqual(await ok(hank.socket, 'inbox:ack', { offset: 99 }), { offset: 0 });
  });
});

describe('inbox retention', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ SWITCHBOARD_INBOX_MAX_BYTES: '2048' });
  });
  after(() => server.dispose());
  afterEach(() => {
    for (const s of sockets) s.close();
    sockets.clear();
    closeClients();
  });

  it('keeps a size cap per user; what it pushes out unacknowledged is a dead letter, and a device behind it is told to read history', async () => {
    const alice = await connect(server, 'alice');
    const ivan = await device(server, 'ivan', {});
    const room = await createRoom(alice, 'direct', ['ivan']);
    ivan.socket.close();
    for (let i = 0; i < 20; i++) await ok(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: `c${i}`, content: `${i}`.padEnd(200, '.') });
    const back = await device(server, 'ivan', { after: 0 }, { autoAck: true });
    const synced = await back.synced;
    assert.equal(synced.lost, true);
    assert.ok(synced.replayed < 21 && synced.replayed > 0, `replayed ${synced.replayed}`);
    assert.equal(synced.head, 21);
    assert.ok((await serverStatus(server)).delivery.deadLetters > 0);
    // History still has every message.
    const page = await ok<{ messages: Msg[] }>(alice, 'message:history', { conversationId: room.conversation.id, limit: 50 });
    assert.equal(page.messages.length, 20);
  });
});

describe('durable acceptance', () => {
  let server: TestServer;
  before(async () => {
    // No processor: accepted messages stay in the log, and history must still show them.
    // (With the SQLite store, the embedded journal stores them as it accepts them.)
    server = await startServer({ SWITCHBOARD_PROCESSOR: 'external', SWITCHBOARD_STORE: 'memory' });
  });
  after(() => server.dispose());
  afterEach(() => closeClients());

  it('has an acknowledged message in history at once, before any processor stored it', async () => {
    const alice = await connect(server, 'alice');
    const room = await createRoom(alice, 'group', ['bob']);
    const sent = await ok<{ message: Msg }>(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'raw', content: 'read after write' });
    const page = await ok<{ messages: Msg[] }>(alice, 'message:history', { conversationId: room.conversation.id, limit: 10 });
    assert.deepEqual(page.messages.map((m) => [m.id, m.seq, m.content]), [[sent.message.id, 1, 'read after write']]);
    const edited = await ok<Msg>(alice, 'message:edit', { conversationId: room.conversation.id, messageId: sent.message.id, content: 'edited before stored' });
    assert.equal(edited.content, 'edited before stored');
    const again = await ok<{ messages: Msg[] }>(alice, 'message:history', { conversationId: room.conversation.id, limit: 10 });
    assert.deepEqual(again.messages.map((m) => m.content), ['edited before stored']);
  });
});

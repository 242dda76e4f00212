import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createClient, MemoryStorage, SwitchboardClientError, type Envelope, type Message, type SendResult, type SwitchboardClient } from '../../packages/client/src/index.js';
import { restartServer, startServer, type TestServer } from '../helpers/harness.js';
import { closeSdkClients, gate, holdable, nextEvent, received, sdk, type Received } from './sdk-harness.js';

describe('SDK: delivery guarantees and recovery', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.dispose());
  afterEach(() => closeSdkClients());

  it('resends a message whose answer was lost in a disconnect: stored once, shown once', async () => {
    const alice = await sdk(server, 'alice');
    const bob = await sdk(server, 'bob');
    const [aliceApp, bobApp] = [received(alice), received(bob)];
    const { conversation } = await alice.createRoom({ type: 'direct', members: ['bob'] });
    const attempts: string[] = [];
    alice.socket.onAnyOutgoing((event: string, payload: { clientMessageId: string }) => {
      if (event !== 'message:send') return;
      attempts.push(payload.clientMessageId);
      if (attempts.length !== 1) return;
      // Cut the connection once the packet is on the wire, so the server stores it but the answer is lost.
      const engine = alice.socket.io.engine;
      engine.once('drain', () => engine.close());
    });
    const results: SendResult[] = [];
    alice.on('sent', (r) => results.push(r));

    const message = await alice.send(conversation.id, 'exactly once');
    await alice.send(conversation.id, 'barrier');

    assert.equal(attempts.length, 3, 'the first message was sent twice, the barrier once');
    assert.equal(attempts[0], attempts[1]);
    assert.equal(results[0]!.duplicate, true, 'the server had stored the first attempt');
    assert.deepEqual((await bobApp.until(conversation.id, 2)).map((m) => m.content), ['exactly once', 'barrier']);
    assert.deepEqual((await aliceApp.until(conversation.id, 2)).map((m) => m.id)[0], message.id);
    const history = await bob.history(conversation.id);
    assert.deepEqual(history.messages.map((m) => m.content), ['exactly once', 'barrier']);
  });

  it('holds a message that arrives after a gap, fills the gap from history and delivers in seq order', async () => {
    const alice = await sdk(server, 'alice');
    const bob = await sdk(server, 'bob');
    const { conversation } = await alice.createRoom({ type: 'group', members: ['bob'], name: 'gap' });
    const bobApp = received(bob);
    const sources: string[] = [];
    bob.on('message', (m, source) => sources.push(`${m.content}:${source}`));
    // Lose the live copy of "two" before the SDK sees it.
    const socket = bob.socket as unknown as { emitEvent(args: unknown[]): void };
    const deliver = socket.emitEvent.bind(socket);
    let dropped = false;
    socket.emitEvent = (args) => {
      const [name, env] = args as [string, Envelope<Message>];
      if (!dropped && name === 'message:new' && env.payload.data.content === 'two') {
        dropped = true;
        return;
      }
      deliver(args);
    };
    for (const t of ['one', 'two', 'three']) await alice.send(conversation.id, t);
    assert.deepEqual((await bobApp.until(conversation.id, 3)).map((m) => [m.seq, m.content]), [[1, 'one'], [2, 'two'], [3, 'three']]);
    assert.ok(dropped);
    assert.deepEqual(sources, ['one:live', 'two:history', 'three:history']);
  });

  it('replays what a device missed while offline: all, in order, once', async () => {
    const alice = await sdk(server, 'alice');
    const bob = await holdable(server, 'bob');
    const { conversation } = await alice.createRoom({ type: 'group', members: ['bob'], name: 'replay' });
    await alice.send(conversation.id, 'before');
    await bob.app.until(conversation.id, 1);
    await bob.offline();
    for (let i = 1; i <= 5; i++) await alice.send(conversation.id, `missed ${i}`);
    const synced = await bob.back();
    assert.equal(synced.replayed, 5);
    assert.equal(synced.lost, false);
    await alice.send(conversation.id, 'live');
    const got = await bob.app.until(conversation.id, 7);
    assert.deepEqual(got.map((m) => m.content), ['before', 'missed 1', 'missed 2', 'missed 3', 'missed 4', 'missed 5', 'live']);
    assert.deepEqual(got.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7]);
  });

  it('picks up after a restart from the stored inbox offset, without repeating what the app already had', async () => {
    const storage = new MemoryStorage();
    const alice = await sdk(server, 'alice');
    const first = await sdk(server, 'carol', { storage });
    const firstApp = received(first);
    const { conversation } = await alice.createRoom({ type: 'direct', members: ['carol'] });
    await alice.send(conversation.id, 'seen');
    await firstApp.until(conversation.id, 1);
    await first.close();
    for (const t of ['while', 'closed']) await alice.send(conversation.id, t);

    let app!: Received;
    const second = await sdk(server, 'carol', { storage, listen: (c) => (app = received(c)) });
    await alice.send(conversation.id, 'after');
    assert.deepEqual((await app.until(conversation.id, 3)).map((m) => m.content), ['while', 'closed', 'after']);
    assert.equal(second.state, 'connected');
  });

  it('keeps unsent messages in storage across a restart and sends them, in order, from the next client', async () => {
    const storage = new MemoryStorage();
    const alice = await sdk(server, 'alice');
    const dave = await sdk(server, 'dave');
    const daveApp = received(dave);
    const { conversation } = await alice.createRoom({ type: 'direct', members: ['dave'] });

    const unreachable = createClient({ url: server.url, token: () => gate<string>().promise, storage, transports: ['websocket'] });
    const queued = [unreachable.send(conversation.id, 'queued 1'), unreachable.send(conversation.id, 'queued 2')];
    await unreachable.close();
    for (const p of queued) await assert.rejects(p, (err: SwitchboardClientError) => err.code === 'CLOSED');

    const restored: string[] = [];
    const bothSent = gate();
    await sdk(server, 'alice', {
      storage,
      listen: (c) => c.on('sent', (r) => restored.push(r.message.content) === 2 && bothSent.open()),
    });
    assert.deepEqual((await daveApp.until(conversation.id, 2)).map((m) => m.content), ['queued 1', 'queued 2']);
    await bothSent.promise;
    assert.deepEqual(restored, ['queued 1', 'queued 2']);
  });

  it('reads channel messages missed while offline from history (channels are not kept in inboxes)', async () => {
    const alice = await sdk(server, 'alice');
    const erin = await holdable(server, 'erin');
    const { conversation } = await alice.createRoom({ type: 'channel', members: ['erin'], name: 'announcements' });
    await alice.send(conversation.id, 'first');
    await erin.app.until(conversation.id, 1);
    await erin.offline();
    for (const t of ['second', 'third']) await alice.send(conversation.id, t);
    await erin.back();
    assert.deepEqual((await erin.app.until(conversation.id, 3)).map((m) => m.content), ['first', 'second', 'third']);
  });
});

describe('SDK: server restart', () => {
  it('reconnects after SERVER_SHUTDOWN to the restarted server and sends what was queued meanwhile', async () => {
    const first = await startServer();
    let second: TestServer | undefined;
    const clients: SwitchboardClient[] = [];
    try {
      const alice = await sdk(first, 'alice');
      const bob = await sdk(first, 'bob');
      clients.push(alice, bob);
      const bobApp = received(bob);
      const { conversation } = await alice.createRoom({ type: 'direct', members: ['bob'] });
      await alice.send(conversation.id, 'before');
      const down = nextEvent(alice, 'disconnected');
      await first.stop();
      const [info] = await down;
      assert.deepEqual([info.code, info.willReconnect], ['SERVER_SHUTDOWN', true]);
      const queued = alice.send(conversation.id, 'during');
      second = await restartServer(first);
      assert.equal((await queued).seq, 2);
      assert.deepEqual((await bobApp.until(conversation.id, 2, 10_000)).map((m) => m.content), ['before', 'during']);
    } finally {
      await closeSdkClients();
      await (second ?? first).dispose();
    }
  });
});

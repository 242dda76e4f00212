import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { SwitchboardClient } from '../../packages/client/src/index.js';
import { API_KEY, startServer, token, type TestServer } from '../helpers/harness.js';
import { closeSdkClients, nextEvent, received, sdk } from './sdk-harness.js';

describe('SDK: messaging', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ SWITCHBOARD_TOKEN_WARNING_MS: '1500' });
  });
  after(() => server.dispose());
  afterEach(() => closeSdkClients());

  it('delivers a sent message once to each device of the other user and to the sender\'s devices, and resolves with the stored message', async () => {
    const alicePhone = await sdk(server, 'alice', { device: 'phone' });
    const aliceLaptop = await sdk(server, 'alice', { device: 'laptop' });
    const bobPhone = await sdk(server, 'bob', { device: 'phone' });
    const bobLaptop = await sdk(server, 'bob', { device: 'laptop' });
    const apps = [alicePhone, aliceLaptop, bobPhone, bobLaptop].map(received);
    const { conversation } = await alicePhone.createRoom({ type: 'direct', members: ['bob'] });

    const message = await alicePhone.send(conversation.id, 'hello bob');
    assert.equal(message.seq, 1);
    assert.equal(message.senderId, 'alice');
    // A second message is the barrier: order per conversation means the first came before it.
    await alicePhone.send(conversation.id, 'barrier');
    await Promise.all(apps.map((app) => app.until(conversation.id, 2)));
    for (const app of apps) {
      assert.deepEqual(app.contents(conversation.id), ['hello bob', 'barrier']);
      assert.equal(app.messages[0]!.id, message.id);
    }
  });

  it('keeps the order of a burst of sends, for the sender and the receiver', async () => {
    const alice = await sdk(server, 'alice');
    const bob = await sdk(server, 'bob');
    const bobApp = received(bob);
    const { conversation } = await alice.createRoom({ type: 'group', members: ['bob'], name: 'burst' });
    const texts = Array.from({ length: 20 }, (_, i) => `m${i}`);
    const sent = await Promise.all(texts.map((t) => alice.send(conversation.id, t)));
    assert.deepEqual(sent.map((m) => m.seq), texts.map((_, i) => i + 1));
    assert.deepEqual((await bobApp.until(conversation.id, 20)).map((m) => m.content), texts);
  });

  it('numbers its messages with UUIDv7 client message ids, in the order of the time they were made', async () => {
    const alice = await sdk(server, 'alice');
    await sdk(server, 'bob');
    const { conversation } = await alice.createRoom({ type: 'direct', members: ['bob'] });
    const ids: string[] = [];
    alice.socket.onAnyOutgoing((event: string, payload: { clientMessageId: string }) => {
      if (event === 'message:send') ids.push(payload.clientMessageId);
    });
    const from = Date.now();
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await alice.send(conversation.id, `m${i}`));
    const to = Date.now();
    assert.deepEqual(sent.map((m) => m.clientMessageId), ids, 'the stored messages carry the ids sent');
    for (const id of ids) {
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ms = parseInt(id.replaceAll('-', '').slice(0, 12), 16);
      assert.ok(ms >= from && ms <= to, `${id}: its time ${ms} is when it was made (${from}–${to})`);
    }
    const times = ids.map((id) => id.slice(0, 13));
    assert.deepEqual([...times].sort(), times, 'later messages sort after earlier ones by their time part');
  });

  it('rejects a send the server refuses for good, and the next message of the conversation still goes out', async () => {
    const alice = await sdk(server, 'alice');
    const carol = await sdk(server, 'carol');
    const { conversation } = await alice.createRoom({ type: 'channel', members: ['carol'], name: 'news' });
    const failed = nextEvent(carol, 'send:failed');
    await assert.rejects(carol.send(conversation.id, 'members cannot post'), (err: { code: string }) => err.code === 'FORBIDDEN');
    assert.equal((await failed)[0].error.code, 'FORBIDDEN');
    await assert.rejects(carol.send('no-such-room', 'x'), (err: { code: string; retryable: boolean }) => err.code === 'NOT_FOUND' && !err.retryable);
    assert.deepEqual(carol.pendingMessages(), []);
    assert.equal((await alice.send(conversation.id, 'owners can')).seq, 1);
  });

  it('sends a throttled typing:start and a typing:stop, and stops typing when a message is sent', async () => {
    const alice = await sdk(server, 'alice');
    const bob = await sdk(server, 'bob');
    const { conversation } = await alice.createRoom({ type: 'group', members: ['bob'], name: 'typing' });
    const updates: boolean[] = [];
    bob.on('typing:update', (u) => updates.push(u.typing));
    const started = nextEvent(bob, 'typing:update', (u) => u.typing && u.userId === 'alice');
    alice.typing(conversation.id);
    alice.typing(conversation.id);
    alice.typing(conversation.id);
    assert.deepEqual((await started)[0].typers, ['alice']);
    const stopped = nextEvent(bob, 'typing:update', (u) => !u.typing);
    alice.stopTyping(conversation.id);
    assert.equal((await stopped)[0].reason, 'stop');
    assert.deepEqual(updates, [true, false]);

    const again = nextEvent(bob, 'typing:update', (u) => u.typing);
    alice.typing(conversation.id);
    await again;
    const ended = nextEvent(bob, 'typing:update', (u) => !u.typing);
    await alice.send(conversation.id, 'done typing');
    assert.equal((await ended)[0].reason, 'message');
  });

  it('sets presence, follows other users, and follows them again after a reconnect', async () => {
    const alice = await sdk(server, 'alice');
    const bob = await sdk(server, 'bob');
    const [now] = await bob.subscribePresence(['alice']);
    assert.equal(now!.status, 'online');
    const dnd = nextEvent(bob, 'presence:changed', (p) => p.userId === 'alice' && p.status === 'dnd');
    const mine = await alice.setPresence('dnd', 'focus time');
    assert.equal(mine.customStatus, 'focus time');
    assert.equal((await dnd)[0].customStatus, 'focus time');

    const back = nextEvent(bob, 'connected');
    bob.socket.io.engine.close();
    await back;
    const away = nextEvent(bob, 'presence:changed', (p) => p.userId === 'alice' && p.status === 'away');
    // The resubscription goes out when the connection is back; a round trip after it is ordered behind it.
    await bob.queryPresence(['alice']);
    await alice.setPresence('away');
    await away;
  });

  it('lists rooms, reads history, marks read and tells the sender', async () => {
    const alice = await sdk(server, 'alice');
    const bob = await sdk(server, 'bob');
    const { conversation } = await alice.createRoom({ type: 'group', members: ['bob'], name: 'history' });
    for (const t of ['a', 'b', 'c']) await alice.send(conversation.id, t);
    const listed = (await bob.rooms()).find((r) => r.id === conversation.id);
    assert.equal(listed?.lastSeq, 3);
    assert.equal(listed?.readSeq, 0);
    const page = await bob.history(conversation.id, { before: 3 });
    assert.deepEqual(page.messages.map((m) => m.content), ['a', 'b']);
    assert.equal(page.hasMore, false);
    const read = nextEvent(alice, 'message:read', (r) => r.userId === 'bob');
    assert.equal(await bob.markRead(conversation.id, 3), 3);
    assert.equal((await read)[0].seq, 3);
  });

  it('hands backend pushes to the app as push events', async () => {
    const bob = await sdk(server, 'bob');
    const pushed = nextEvent(bob, 'push', (p) => p.event === 'invoice.paid');
    const res = await fetch(`${server.url}/v1/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenantId: 'acme', userId: 'bob', event: 'invoice.paid', payload: { amount: 42 } }),
    });
    assert.equal(res.status, 202);
    assert.deepEqual((await pushed)[0].data, { amount: 42 });
  });

  it('refreshes the token on auth:expiring and keeps the connection', async () => {
    let refreshed = 0;
    const dave: SwitchboardClient = await sdk(server, 'dave', {
      // Expires 2–3 s from now: the warning (1.5 s before) comes after the client is set up.
      token: () => token('dave', 'acme', { ttlSeconds: 3 }),
      refreshToken: () => {
        refreshed += 1;
        return token('dave', 'acme', { ttlSeconds: 3600 });
      },
    });
    const lost: string[] = [];
    dave.on('disconnected', (info) => lost.push(info.reason));
    const oldExpiry = dave.session!.expiresAt!;
    const [{ expiresAt }] = await nextEvent(dave, 'token:refreshed');
    assert.equal(refreshed, 1);
    assert.ok(expiresAt! > oldExpiry + 3_000_000);
    // The property under test is time itself: the session must outlive the first token's expiry.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, oldExpiry - Date.now()) + 300));
    await dave.rooms();
    assert.deepEqual(lost, []);
    assert.equal(dave.state, 'connected');
  });

  it('reconnects with a fresh token after TOKEN_EXPIRED', async () => {
    let calls = 0;
    const erin = await sdk(server, 'erin', {
      token: () => token('erin', 'acme', { ttlSeconds: 2 }),
      refreshToken: async () => {
        calls += 1;
        // The first refresh (on auth:expiring) fails, so the session runs out.
        if (calls === 1) throw new Error('identity provider down');
        return token('erin', 'acme', { ttlSeconds: 3600 });
      },
    });
    const [info] = await nextEvent(erin, 'disconnected');
    assert.equal(info.code, 'TOKEN_EXPIRED');
    assert.equal(info.willReconnect, true);
    await nextEvent(erin, 'connected');
    assert.equal(calls, 2);
  });

  it('stays down when the server says not to reconnect (POLICY_VIOLATION)', async () => {
    const frank = await sdk(server, 'frank');
    const down = nextEvent(frank, 'disconnected');
    for (let i = 0; i < 120; i++) frank.socket.emit('no:such:event', {});
    const [info] = await down;
    assert.deepEqual([info.code, info.willReconnect], ['POLICY_VIOLATION', false]);
    assert.equal(frank.state, 'disconnected');
  });
});

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { closeClients, connect, createRoom, fails, next, ok, record, settle, startServer, type TestServer } from '../helpers/harness.js';

interface Presence { userId: string; status: string; customStatus: string | null; lastSeen: string | null; devices: number }
interface Typing { conversationId: string; userId: string; typing: boolean; reason: string; typers: string[] }
interface ServerError { event: string; error: { code: string } }

describe('presence', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ SWITCHBOARD_PRESENCE_GRACE_MS: '300', SWITCHBOARD_STORE: 'memory' });
  });
  afterEach(closeClients);
  after(() => server.dispose());

  it('answers a subscription with the current state, then reports online, status, custom text and offline with last seen', async () => {
    const watcher = await connect(server, 'wanda');
    const first = await ok<{ presence: Presence[] }>(watcher, 'presence:subscribe', { userIds: ['pat'] });
    assert.deepEqual(first.presence, [{ userId: 'pat', status: 'offline', customStatus: null, lastSeen: null, devices: 0 }]);

    const online = next<Presence>(watcher, 'presence:changed', (p) => p.userId === 'pat' && p.status === 'online');
    const pat = await connect(server, 'pat');
    assert.equal((await online).payload.data.devices, 1);

    const dnd = next<Presence>(watcher, 'presence:changed', (p) => p.status === 'dnd');
    const own = await ok<Presence>(pat, 'presence:update', { status: 'dnd', customStatus: 'focus time' });
    assert.equal(own.status, 'dnd');
    assert.equal((await dnd).payload.data.customStatus, 'focus time');

    const cleared = next<Presence>(watcher, 'presence:changed', (p) => p.customStatus === null);
    await ok(pat, 'presence:update', { customStatus: null });
    assert.equal((await cleared).payload.data.status, 'dnd', 'clearing the text keeps the status');

    const offline = next<Presence>(watcher, 'presence:changed', (p) => p.status === 'offline');
    pat.close();
    const gone = (await offline).payload.data;
    assert.equal(gone.devices, 0);
    assert.ok(gone.lastSeen && Date.parse(gone.lastSeen) > 0, 'offline carries when the user was last seen');
  });

  it('does not flap to offline when the only device reconnects within the grace period', async () => {
    const patient = await startServer({ SWITCHBOARD_PRESENCE_GRACE_MS: '10000', SWITCHBOARD_STORE: 'memory' });
    try {
      const watcher = await connect(patient, 'wally');
      const phone = await connect(patient, 'quinn', { device: 'phone' });
      const now = await ok<{ presence: Presence[] }>(watcher, 'presence:subscribe', { userIds: ['quinn'] });
      assert.equal(now.presence[0]!.status, 'online');
      const seen = record<Presence>(watcher, 'presence:changed');
      phone.close();
      await connect(patient, 'quinn', { device: 'phone' });
      const query = await ok<{ presence: Presence[] }>(watcher, 'presence:query', { userIds: ['quinn'] });
      assert.equal(query.presence[0]!.status, 'online');
      await settle(watcher);
      assert.deepEqual(seen.filter((e) => e.payload.data.status === 'offline'), []);
    } finally {
      closeClients();
      await patient.dispose();
    }
  });

  it('goes offline only after the last device has gone and the grace period has passed', async () => {
    const watcher = await connect(server, 'wes');
    const a = await connect(server, 'rory', { device: 'a' });
    const b = await connect(server, 'rory', { device: 'b' });
    await ok(watcher, 'presence:subscribe', { userIds: ['rory'] });
    const seen = record<Presence>(watcher, 'presence:changed');
    a.close();
    const offline = next<Presence>(watcher, 'presence:changed', (p) => p.status === 'offline');
    await settle(watcher);
    assert.equal(seen.length, 0, 'one device left: still online, nothing to report');
    const closedAt = Date.now();
    b.close();
    await offline;
    assert.ok(Date.now() - closedAt >= 250, 'offline is reported after the grace period, not at once');
  });

  it('stops reporting after unsubscribe', async () => {
    const watcher = await connect(server, 'will');
    await ok(watcher, 'presence:subscribe', { userIds: ['sid'] });
    const sid = await connect(server, 'sid');
    assert.deepEqual(await ok(watcher, 'presence:unsubscribe', { userIds: ['sid', 'nobody'] }), { unsubscribed: 1 });
    const seen = record<Presence>(watcher, 'presence:changed');
    await ok(sid, 'presence:update', { status: 'away' });
    await settle(watcher);
    assert.equal(seen.length, 0);
  });

  it('keeps tenants apart: the same user id in another tenant is another user', async () => {
    const watcher = await connect(server, 'wyn', { tenant: 'globex' });
    await ok(watcher, 'presence:subscribe', { userIds: ['tara'] });
    const seen = record<Presence>(watcher, 'presence:changed');
    const tara = await connect(server, 'tara', { tenant: 'acme' });
    await ok(tara, 'presence:update', { status: 'away' });
    const q = await ok<{ presence: Presence[] }>(watcher, 'presence:query', { userIds: ['tara'] });
    assert.equal(q.presence[0]!.status, 'offline', 'acme/tara is not globex/tara');
    await settle(watcher);
    assert.equal(seen.length, 0);
  });

  it('refuses an empty update and names the problem, and the connection goes on', async () => {
    const user = await connect(server, 'uma');
    const err = await fails(user, 'presence:update', {});
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.match(JSON.stringify(err.details), /status or customStatus/);
    const bad = await fails(user, 'presence:update', { status: 'invisible' });
    assert.equal(bad.code, 'VALIDATION_FAILED');
    assert.deepEqual((bad.details as { field: string }[]).map((d) => d.field), ['status']);
    assert.equal((await ok<Presence>(user, 'presence:update', { status: 'away' })).status, 'away');
  });

  it('answers a fire-and-forget update that fails with a server:error event', async () => {
    const user = await connect(server, 'vic');
    const error = next<ServerError>(user, 'server:error');
    user.emit('presence:update', { status: 'sleeping' });
    const env = await error;
    assert.equal(env.type, 'error');
    assert.equal(env.payload.data.event, 'presence:update');
    assert.equal(env.payload.data.error.code, 'VALIDATION_FAILED');
  });
});

describe('typing', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ SWITCHBOARD_TYPING_THROTTLE_MS: '60000', SWITCHBOARD_TYPING_TIMEOUT_MS: '1500', SWITCHBOARD_STORE: 'memory' });
  });
  afterEach(closeClients);
  after(() => server.dispose());

  it('tells the other members who is typing, not the typer, and stops on typing:stop', async () => {
    const alice = await connect(server, 'alice');
    const aliceTablet = await connect(server, 'alice', { device: 'tablet' });
    const bob = await connect(server, 'bob');
    const room = (await createRoom(alice, 'group', ['bob'], { name: 't1' })).conversation.id;
    const ownDevices = [record<Typing>(alice, 'typing:update'), record<Typing>(aliceTablet, 'typing:update')];

    const started = next<Typing>(bob, 'typing:update', (t) => t.typing);
    assert.deepEqual(await ok(alice, 'typing:start', { conversationId: room }), { throttled: false });
    assert.deepEqual((await started).payload.data, { conversationId: room, userId: 'alice', typing: true, reason: 'start', typers: ['alice'] });

    const stopped = next<Typing>(bob, 'typing:update', (t) => !t.typing);
    assert.deepEqual(await ok(alice, 'typing:stop', { conversationId: room }), { stopped: true });
    assert.deepEqual((await stopped).payload.data.typers, []);
    assert.equal((await stopped).payload.data.reason, 'stop');
    await settle(alice);
    await settle(aliceTablet);
    assert.deepEqual(ownDevices.map((r) => r.length), [0, 0]);
  });

  it('throttles repeats, reports several typers at once, and stops by itself after the timeout', async () => {
    const alice = await connect(server, 'ann');
    const bob = await connect(server, 'ben');
    const carol = await connect(server, 'cat');
    const room = (await createRoom(alice, 'group', ['ben', 'cat'], { name: 't2' })).conversation.id;
    const atCarol = record<Typing>(carol, 'typing:update');

    await ok(alice, 'typing:start', { conversationId: room });
    assert.deepEqual(await ok(alice, 'typing:start', { conversationId: room }), { throttled: true });
    const both = next<Typing>(carol, 'typing:update', (t) => t.userId === 'ben' && t.typing);
    const timedOut = next<Typing>(carol, 'typing:update', (t) => t.userId === 'ann' && t.reason === 'timeout');
    await ok(bob, 'typing:start', { conversationId: room });
    assert.deepEqual([...(await both).payload.data.typers].sort(), ['ann', 'ben']);

    assert.deepEqual((await timedOut).payload.data.typers, ['ben']);
    assert.equal(atCarol.filter((e) => e.payload.data.userId === 'ann' && e.payload.data.typing).length, 1, 'the throttled repeat was not broadcast');
  });

  it('ends the sender\'s typing when the message is sent', async () => {
    const alice = await connect(server, 'amy');
    const bob = await connect(server, 'bo');
    const room = (await createRoom(alice, 'direct', ['bo'])).conversation.id;
    await ok(alice, 'typing:start', { conversationId: room });
    const ended = next<Typing>(bob, 'typing:update', (t) => !t.typing);
    await ok(alice, 'message:send', { conversationId: room, clientMessageId: 'ty-1', content: 'done typing' });
    assert.equal((await ended).payload.data.reason, 'message');
  });

  it('refuses typing into a conversation the user is not in', async () => {
    const alice = await connect(server, 'abe');
    await connect(server, 'bea');
    const outsider = await connect(server, 'eve');
    const room = (await createRoom(alice, 'direct', ['bea'])).conversation.id;
    assert.equal((await fails(outsider, 'typing:start', { conversationId: room })).code, 'NOT_A_MEMBER');
    assert.equal((await fails(outsider, 'typing:start', { conversationId: 'no-such-room' })).code, 'NOT_FOUND');
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { API_KEY, call, closeClients, connect, createRoom, fails, next, ok, record, settle, startServer, until, type TestServer } from '../helpers/harness.js';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';

interface Msg { id: string; seq: number; clientMessageId: string; content: string }
interface Presence { userId: string; status: string }

/*
 * Three servers joined by a 6-node Redis Cluster (3 masters, 3 replicas): the registry,
 * presence and server channels use sharded keys and sharded pub/sub.
 */
describe('on a Redis Cluster', () => {
  let redis: TestRedisCluster;
  const servers: TestServer[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-rc-'));

  before(async () => {
    redis = await startRedisCluster();
    const env = { SWITCHBOARD_REDIS_URL: redis.url, SWITCHBOARD_REDIS_MODE: 'cluster', SWITCHBOARD_PRESENCE_GRACE_MS: '0' };
    for (let i = 0; i < 3; i++) servers.push(await startServer(env, dataDir));
  });
  after(async () => {
    closeClients();
    for (const s of servers) await s.stop();
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers a message from a user on server A to every device of every member on B and C', async () => {
    const [a, b, c] = servers as [TestServer, TestServer, TestServer];
    const alicePhone = await connect(a, 'alice', { device: 'phone' });
    const aliceLaptop = await connect(c, 'alice', { device: 'laptop' });
    const bobPhone = await connect(b, 'bob', { device: 'phone' });
    const bobLaptop = await connect(c, 'bob', { device: 'laptop' });
    const carol = await connect(b, 'carol');
    const room = (await createRoom(alicePhone, 'group', ['bob', 'carol'], { name: 'cluster' })).conversation.id;

    const echo = record<Msg>(alicePhone, 'message:new');
    const receivers = [aliceLaptop, bobPhone, bobLaptop, carol];
    const arrivals = receivers.map((s) => next<Msg>(s, 'message:new', (m) => m.clientMessageId === 'rc-1'));
    const sent = await ok<{ message: Msg }>(alicePhone, 'message:send', { conversationId: room, clientMessageId: 'rc-1', content: 'over the cluster' });
    for (const env of await Promise.all(arrivals)) {
      assert.equal(env.payload.data.id, sent.message.id);
      assert.equal(env.payload.data.content, 'over the cluster');
    }
    // And back: carol on B answers, alice's devices on A and C get it.
    const back = [alicePhone, aliceLaptop].map((s) => next<Msg>(s, 'message:new', (m) => m.clientMessageId === 'rc-2'));
    await ok(carol, 'message:send', { conversationId: room, clientMessageId: 'rc-2', content: 'heard you' });
    await Promise.all(back);
    await settle(alicePhone);
    assert.equal(echo.filter((e) => e.payload.data.clientMessageId === 'rc-1').length, 0, 'the sending socket does not get its own message');
  });

  it('fans a broadcast channel out through its topic, to members on every server and to a member who just joined', async () => {
    const [a, b, c] = servers as [TestServer, TestServer, TestServer];
    const owner = await connect(a, 'olga');
    const ownerTablet = await connect(b, 'olga', { device: 'tablet' });
    const readerB = await connect(b, 'rita');
    const readerC = await connect(c, 'sam');
    const channel = (await createRoom(owner, 'channel', ['rita', 'sam'], { name: 'news' })).conversation.id;

    const echo = record<Msg>(owner, 'message:new');
    const first = [ownerTablet, readerB, readerC].map((s) => next<Msg>(s, 'message:new', (m) => m.clientMessageId === 'ch-1'));
    await ok(owner, 'message:send', { conversationId: channel, clientMessageId: 'ch-1', content: 'edition 1' });
    await Promise.all(first);

    // A newcomer on C joins and is reached by the very next message; a leaver on B is not.
    const late = await connect(c, 'tom');
    await ok(late, 'room:join', { conversationId: channel });
    await ok(readerB, 'room:leave', { conversationId: channel });
    const leaverGot = record<Msg>(readerB, 'message:new');
    const second = [late, readerC, ownerTablet].map((s) => next<Msg>(s, 'message:new', (m) => m.clientMessageId === 'ch-2'));
    await ok(owner, 'message:send', { conversationId: channel, clientMessageId: 'ch-2', content: 'edition 2' });
    await Promise.all(second);
    await settle(readerB);
    await settle(owner);
    assert.deepEqual(leaverGot.map((e) => e.payload.data.clientMessageId), []);
    assert.deepEqual(echo.map((e) => e.payload.data.clientMessageId), [], 'the sending socket does not get its own message');
  });

  it('carries presence and tenant-wide pushes across servers over sharded topics', async () => {
    const [a, b, c] = servers as [TestServer, TestServer, TestServer];
    const watcher = await connect(a, 'wendy');
    const subscribed = await ok<{ presence: Presence[] }>(watcher, 'presence:subscribe', { userIds: ['dave'] });
    assert.equal(subscribed.presence[0]!.status, 'offline');
    const online = next<Presence>(watcher, 'presence:changed', (p) => p.userId === 'dave' && p.status === 'online');
    const dave = await connect(b, 'dave');
    await online;
    const away = next<Presence>(watcher, 'presence:changed', (p) => p.userId === 'dave' && p.status === 'away');
    await ok(dave, 'presence:update', { status: 'away' });
    await away;

    const erin = await connect(c, 'erin');
    const pushed = [watcher, dave, erin].map((s) => next<{ n: number }>(s, 'notice.all', (d) => d.n === 7));
    const res = await fetch(`${b.url}/v1/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenantId: 'acme', event: 'notice.all', payload: { n: 7 } }),
    });
    assert.equal(res.status, 202);
    await Promise.all(pushed);

    const offline = next<Presence>(watcher, 'presence:changed', (p) => p.userId === 'dave' && p.status === 'offline');
    dave.close();
    await offline;
  });

  it('makes a membership change on one server hold at once on the others, whatever they cached', async () => {
    const [a, b] = servers as [TestServer, TestServer, TestServer];
    const owner = await connect(a, 'nora');
    const guest = await connect(b, 'gil');
    const room = (await createRoom(owner, 'group', ['gil'], { name: 'cache' })).conversation.id;
    // B caches the membership while gil sends.
    await ok(guest, 'message:send', { conversationId: room, clientMessageId: 'mc-1', content: 'in' });
    await ok(owner, 'room:update', { conversationId: room, removeMembers: ['gil'] });
    assert.equal((await fails(guest, 'message:send', { conversationId: room, clientMessageId: 'mc-2', content: 'out?' })).code, 'NOT_A_MEMBER');
    await ok(owner, 'room:update', { conversationId: room, addMembers: ['gil'], name: 'renamed' });
    await ok(guest, 'message:send', { conversationId: room, clientMessageId: 'mc-3', content: 'back' });
    const view = await ok<{ conversation: { name: string } }>(guest, 'room:get', { conversationId: room });
    assert.equal(view.conversation.name, 'renamed');
  });

  // Last: it takes a master away for good.
  it('recovers when the master holding a server\'s channel dies: the replica takes over and delivery resumes', async () => {
    const [a, b] = servers as [TestServer, TestServer, TestServer];
    const alice = await connect(a, 'ada');
    const bob = await connect(b, 'ben');
    const room = (await createRoom(alice, 'group', ['ben'], { name: 'failover' })).conversation.id;
    await redis.kill(await redis.masterOf(`sb:server:${b.app.serverId}`));
    await until(async () => (await fetch(`${b.url}/health/ready`)).status === 503, 10_000, 50);
    // Until the replica is promoted (cluster-node-timeout 2 s) nothing for that shard gets through.
    let n = 0;
    await until(async () => {
      const id = `fo-${n++}`;
      const got = next<Msg>(bob, 'message:new', (m) => m.clientMessageId === id, 1000).then(() => true, () => false);
      // A send that gets no answer during the failover is tried again, like one refused.
      const sent = await call(alice, 'message:send', { conversationId: room, clientMessageId: id, content: 'after failover' }).catch(() => null);
      return sent?.ok === true && (await got);
    }, 30_000, 100);
    await until(async () => (await fetch(`${b.url}/health/ready`)).status === 200, 10_000, 100);
  });
});

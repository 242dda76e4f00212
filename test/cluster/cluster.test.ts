import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import type { Socket } from 'socket.io-client';
import { startCluster, isReady, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { API_KEY, closeClients, connect, createRoom, fails, next, ok, record, settle, until, type ClientOptions } from '../helpers/harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

interface Presence { userId: string; status: string; devices: number }
interface MessageData { id: string; content: string; senderId: string; conversationId: string }
interface TypingData { conversationId: string; userId: string; typing: boolean; typers: string[] }

const HEARTBEAT_MS = 300;
const SERVER_TTL_MS = 3000;
const GRACE_MS = 200;

const clusterEnv = (redis: TestRedis): Record<string, string> => ({
  SWITCHBOARD_REDIS_URL: redis.url,
  SWITCHBOARD_HEARTBEAT_MS: String(HEARTBEAT_MS),
  SWITCHBOARD_SERVER_TTL_MS: String(SERVER_TTL_MS),
  SWITCHBOARD_PRESENCE_GRACE_MS: String(GRACE_MS),
  SWITCHBOARD_TYPING_THROTTLE_MS: '0',
});

let sent = 0;

/** Sends a chat message and returns the stored message's id. */
async function send(socket: Socket, conversationId: string, content: string): Promise<string> {
  sent += 1;
  const data = await ok<{ message: { id: string } }>(socket, 'message:send', { conversationId, clientMessageId: `c-${sent}`, content });
  return data.message.id;
}

/** Resolves with the `message:new` of `content` on every socket. */
function receivedBy(sockets: Socket[], content: string): Promise<{ offset?: number }[]> {
  const all = Promise.all(sockets.map((s) => next<MessageData>(s, 'message:new', (m) => m.content === content)));
  // A test that fails before awaiting this must not leave a stray rejection behind.
  all.catch(() => undefined);
  return all;
}

async function push(node: ClusterNode, body: Record<string, unknown>): Promise<{ status: number; data: { target: string; sockets: number | null } }> {
  const r = await fetch(`${node.url}/v1/push`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await r.json()) as { data: { target: string; sockets: number | null } };
  return { status: r.status, data: json.data };
}

/** Presence through the HTTP API of `node` (polling it does not touch a client's rate limit). */
async function statusOf(node: ClusterNode, userIds: string[], tenantId = 'acme'): Promise<Record<string, string>> {
  const r = await fetch(`${node.url}/v1/presence/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tenantId, userIds }),
  });
  if (r.status !== 200) return {};
  const body = (await r.json()) as { data: { presence: Presence[] } };
  return Object.fromEntries(body.data.presence.map((p) => [p.userId, p.status]));
}

describe('a cluster of three server processes over one Redis', { timeout: 60_000 }, () => {
  let redis: TestRedis;
  let cluster: TestCluster;
  const at = (i: number) => cluster.node(i);
  const on = (i: number, user: string, o: ClientOptions = {}) => connect(at(i), user, o);

  before(async () => {
    redis = await startRedis();
    cluster = await startCluster(3, clusterEnv(redis));
  });

  after(async () => {
    closeClients();
    // SWITCHBOARD_TEST_LOGS=<file>: keep the servers' logs for a look after a failure.
    const logFile = process.env.SWITCHBOARD_TEST_LOGS;
    if (logFile && cluster) writeFileSync(logFile, cluster.logsAtLeast(0).map((l) => JSON.stringify(l)).join('\n'));
    await cluster?.stop();
    await redis?.stop();
  });

  it('delivers a message from a user on one server to every device of every member on the others, but not to the sending socket', async () => {
    const alice1 = await on(0, 'alice', { device: 'phone' });
    const alice2 = await on(1, 'alice', { device: 'laptop' });
    const bob1 = await on(1, 'bob', { device: 'phone' });
    const bob2 = await on(2, 'bob', { device: 'laptop' });
    const carol1 = await on(2, 'carol', { device: 'phone' });
    const carol2 = await on(0, 'carol', { device: 'laptop' });
    const room = await createRoom(alice1, 'group', ['bob', 'carol'], { name: 'three servers' });
    // Bob's inbox moves ahead of Carol's, so their copies of the next message carry different offsets.
    const dm = await createRoom(alice1, 'direct', ['bob']);
    const toBob = receivedBy([bob1, bob2], 'only bob');
    await send(alice1, dm.conversation.id, 'only bob');
    await toBob;

    const ownEcho = record<MessageData>(alice1, 'message:new');
    const everyone = receivedBy([alice2, bob1, bob2, carol1, carol2], 'hello from A');
    const id = await send(alice1, room.conversation.id, 'hello from A');
    const [, bobPhone, bobLaptop, carolPhone, carolLaptop] = await everyone;
    // Server C gets one batch with Bob's and Carol's copies: each socket gets its own user's offset.
    assert.equal(bobPhone!.offset, bobLaptop!.offset);
    assert.equal(carolPhone!.offset, carolLaptop!.offset);
    assert.notEqual(bobPhone!.offset, carolPhone!.offset);
    await settle(alice1);
    assert.deepEqual(ownEcho.map((e) => e.payload.data.id), [], 'the sending socket gets the ack, not an echo');

    // And back: a member on C answers, the sender's sockets on A and B get it.
    const answer = receivedBy([alice1, alice2, bob1, bob2, carol2], 'hi from C');
    await send(carol1, room.conversation.id, 'hi from C');
    await answer;
    const history = await ok<{ messages: { id: string; content: string }[] }>(bob2, 'message:history', { conversationId: room.conversation.id, limit: 10 });
    assert.deepEqual(history.messages.map((m) => m.content), ['hello from A', 'hi from C']);
    assert.equal(history.messages[0]!.id, id);
  });

  it('shows presence and typing of a user on one server to a subscriber on another', async () => {
    const olga = await on(1, 'olga');
    const before = await ok<{ presence: Presence[] }>(olga, 'presence:subscribe', { userIds: ['pete'] });
    assert.equal(before.presence[0]!.status, 'offline');

    const online = next<Presence>(olga, 'presence:changed', (p) => p.userId === 'pete' && p.status === 'online');
    const pete = await on(0, 'pete');
    await online;

    const away = next<Presence>(olga, 'presence:changed', (p) => p.userId === 'pete' && p.status === 'away');
    await ok(pete, 'presence:update', { status: 'away' });
    await away;

    // Typing is volatile: dropped for a socket that is still writing, so let room:created reach Olga first.
    const created = next(olga, 'room:created');
    const room = await createRoom(pete, 'direct', ['olga']);
    await created;
    const typing = next<TypingData>(olga, 'typing:update', (t) => t.userId === 'pete' && t.typing);
    await ok(pete, 'typing:start', { conversationId: room.conversation.id });
    assert.deepEqual((await typing).payload.data.typers, ['pete']);
    const stopped = next<TypingData>(olga, 'typing:update', (t) => t.userId === 'pete' && !t.typing);
    await ok(pete, 'typing:stop', { conversationId: room.conversation.id });
    assert.deepEqual((await stopped).payload.data.typers, []);

    const offline = next<Presence>(olga, 'presence:changed', (p) => p.userId === 'pete' && p.status === 'offline');
    pete.close();
    await offline;
  });

  it('delivers HTTP pushes made on one server to users on the others, and tenant-wide pushes to every server', async () => {
    const ivy = await on(2, 'ivy');
    const pushed = next<{ order: number }>(ivy, 'order:shipped');
    const r = await push(at(0), { tenantId: 'acme', userId: 'ivy', event: 'order:shipped', payload: { order: 42 } });
    assert.equal(r.status, 202);
    assert.deepEqual(r.data, { target: 'user', sockets: 1 });
    assert.deepEqual((await pushed).payload.data, { order: 42 });

    const members = await Promise.all([0, 1, 2].map((i) => on(i, `g${i}`, { tenant: 'globex' })));
    const outsider = await on(1, 'ivy-elsewhere');
    const outsiderSaw = record(outsider, 'maintenance');
    const everyone = Promise.all(members.map((s) => next<{ at: string }>(s, 'maintenance')));
    const all = await push(at(1), { tenantId: 'globex', event: 'maintenance', payload: { at: 'midnight' } });
    assert.equal(all.status, 202);
    assert.deepEqual(all.data, { target: 'tenant', sockets: null });
    for (const env of await everyone) assert.deepEqual(env.payload.data, { at: 'midnight' });
    await settle(outsider);
    assert.equal(outsiderSaw.length, 0, 'another tenant does not get the broadcast');
  });

  it('marks the users of a killed server offline within the TTL, and its clients carry on from a surviving server', async () => {
    const watcher = await on(0, 'wendy');
    const dave = await on(2, 'dave');
    const room = await createRoom(watcher, 'direct', ['dave']);
    await ok(watcher, 'presence:subscribe', { userIds: ['dave'] });

    const offline = next<Presence>(watcher, 'presence:changed', (p) => p.userId === 'dave' && p.status === 'offline', SERVER_TTL_MS + 10 * HEARTBEAT_MS + 2000);
    const dropped = new Promise<void>((resolve) => dave.once('disconnect', () => resolve()));
    const killedAt = Date.now();
    await cluster.kill(2, 'SIGKILL');
    await dropped;
    const gone = await offline;
    assert.equal(gone.payload.data.devices, 0);
    const took = Date.now() - killedAt;
    assert.ok(took < SERVER_TTL_MS + 10 * HEARTBEAT_MS, `offline after ${took} ms`);

    // The client reconnects (a load balancer sends it to a surviving server) and keeps chatting.
    const back = next<Presence>(watcher, 'presence:changed', (p) => p.userId === 'dave' && p.status === 'online');
    const dave2 = await on(1, 'dave');
    await back;
    const toDave = receivedBy([dave2], 'still there?');
    await send(watcher, room.conversation.id, 'still there?');
    await toDave;
    const toWendy = receivedBy([watcher], 'yes, from B');
    await send(dave2, room.conversation.id, 'yes, from B');
    await toWendy;

    // The killed server comes back under a new id and joins the cluster again.
    await cluster.restart(2);
    const zed = await on(2, 'zed');
    const dm = await createRoom(zed, 'direct', ['wendy']);
    const toWendy2 = receivedBy([watcher], 'hello from the restarted C');
    await send(zed, dm.conversation.id, 'hello from the restarted C');
    await toWendy2;
  });

  it('registers the sessions of a server taken for dead while it stalled, and sends its devices what they missed meanwhile', async () => {
    const kim = await on(0, 'kim', { inbox: {} });
    const lou = await on(1, 'lou');
    const created = next(kim, 'room:created');
    const room = await createRoom(lou, 'direct', ['kim']);
    await created;
    const drops = record(kim, 'disconnect');
    const stalled = at(0);
    const reaped = () => cluster.logsAtLeast(0).some((l) => l.msg === 'reaped a server that stopped heartbeating' && l.deadServer === stalled.serverId);

    // The server stalls (SIGSTOP) longer than the TTL: another one reaps it although it is alive.
    stalled.child.kill('SIGSTOP');
    try {
      await until(reaped, SERVER_TTL_MS + 20 * HEARTBEAT_MS);
      // Kim's socket is out of the registry now: this message only reaches her inbox.
      await send(lou, room.conversation.id, 'while you were frozen');
    } finally {
      stalled.child.kill('SIGCONT');
    }
    const missed = await next<MessageData>(kim, 'message:new', (m) => m.content === 'while you were frozen');
    assert.ok(missed.offset, 'sent from her inbox, with its offset');
    await until(() => stalled.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('this server was taken for dead')));
    const live = receivedBy([kim], 'after the stall');
    await send(lou, room.conversation.id, 'after the stall');
    await live;
    assert.equal(drops.length, 0, "kim's connection never dropped");
  });

  it('survives a Redis outage: local chat goes on, readiness drops, and after Redis is back the cluster heals by itself', async () => {
    const fay = await on(0, 'fay');
    const gus = await on(0, 'gus');
    const hal = await on(1, 'hal');
    const local = await createRoom(fay, 'direct', ['gus']);
    const remote = await createRoom(fay, 'direct', ['hal']);
    const warm = receivedBy([hal], 'before the outage');
    await send(fay, remote.conversation.id, 'before the outage');
    await warm;
    const started = cluster.history.filter((n) => n.child.exitCode === null && n.child.signalCode === null);

    await redis.kill();
    await until(async () => !(await isReady(at(0).url)) && !(await isReady(at(1).url)) && !(await isReady(at(2).url)), 5000);
    const report = (await (await fetch(`${at(0).url}/health/ready`)).json()) as { checks: Record<string, string> };
    assert.equal(report.checks.cluster, 'down');

    // Same-server messaging keeps working while Redis is down.
    for (const text of ['during the outage 1', 'during the outage 2']) {
      const got = receivedBy([gus], text);
      await send(fay, local.conversation.id, text);
      await got;
    }
    // A tenant-wide push still reaches the server's own sockets (the cross-server leg is lost).
    const shout = next<{ n: number }>(gus, 'outage:notice');
    assert.equal((await push(at(0), { tenantId: 'acme', event: 'outage:notice', payload: { n: 1 } })).status, 202);
    assert.deepEqual((await shout).payload.data, { n: 1 });
    // What needs Redis answers at once with a retryable error instead of hanging.
    const failed = await fails(fay, 'presence:update', { status: 'dnd' });
    assert.equal(failed.retryable, true);
    // A client may still connect (e.g. one whose server went away) and chat locally.
    const ike = await on(0, 'ike');
    const withIke = await createRoom(ike, 'direct', ['gus']);
    const toGus = receivedBy([gus], 'ike joined during the outage');
    await send(ike, withIke.conversation.id, 'ike joined during the outage');
    await toGus;
    // A tenant whose first socket on C arrives during the outage: C's topic subscription must follow once Redis is back.
    const uma = await on(2, 'uma', { tenant: 'umbrella' });
    const typing = next<TypingData>(fay, 'typing:update', (t) => t.userId === 'gus' && t.typing);
    await ok(gus, 'typing:start', { conversationId: local.conversation.id });
    await typing;

    await redis.restart();
    await until(async () => (await isReady(at(0).url)) && (await isReady(at(1).url)) && (await isReady(at(2).url)), 10_000);
    // Redis came back empty: every server registers its connections again by itself.
    const expected = { fay: 'online', gus: 'online', hal: 'online', ike: 'online' };
    await until(async () => JSON.stringify(await statusOf(at(1), Object.keys(expected))) === JSON.stringify(expected), 10_000, 50);

    const across = receivedBy([hal], 'after the outage');
    await send(fay, remote.conversation.id, 'after the outage');
    await across;
    const backAgain = receivedBy([fay], 'hal answers');
    await send(hal, remote.conversation.id, 'hal answers');
    await backAgain;
    const ikeRemote = await createRoom(hal, 'direct', ['ike']);
    const toIke = receivedBy([ike], 'registered after the outage');
    await send(hal, ikeRemote.conversation.id, 'registered after the outage');
    await toIke;
    const notice = next<{ n: number }>(uma, 'umbrella:notice');
    await push(at(0), { tenantId: 'umbrella', event: 'umbrella:notice', payload: { n: 2 } });
    assert.deepEqual((await notice).payload.data, { n: 2 });

    for (const node of started) assert.equal(node.child.exitCode, null, `${node.serverId} is still running`);
    assert.deepEqual(cluster.logsAtLeast(50).filter((l) => l.msg === 'unhandled rejection').map((l) => l.node), [], 'no unhandled rejections');
  });
});

describe('a cluster whose Redis comes back with its data', { timeout: 30_000 }, () => {
  const redisDir = mkdtempSync(join(tmpdir(), 'switchboard-redis-'));
  let redis: TestRedis;
  let cluster: TestCluster;

  before(async () => {
    // Every write is on disk before it is acknowledged, so a SIGKILL loses nothing.
    redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always', '--dir', redisDir]);
    cluster = await startCluster(2, clusterEnv(redis));
  });

  after(async () => {
    closeClients();
    await cluster?.stop();
    await redis?.stop();
    rmSync(redisDir, { recursive: true, force: true });
  });

  it('forgets the connections that closed while Redis was down once it is back', async () => {
    const jan = await connect(cluster.node(0), 'jan');
    const kay = await connect(cluster.node(1), 'kay');
    assert.deepEqual(await statusOf(cluster.node(1), ['jan', 'kay']), { jan: 'online', kay: 'online' });
    const probe = createClient({ url: redis.url });
    await probe.connect();
    await probe.set('test:survives', 'yes');
    await probe.close();

    await redis.kill();
    await until(async () => !(await isReady(cluster.node(0).url)), 5000);
    jan.close();
    // The grace period ends while Redis is down, so the server cannot record that jan left.
    await until(() => cluster.node(0).logs.some((l) => l.msg === 'presence leave failed' && l.userId === 'jan'), 5000);

    await redis.restart();
    const check = createClient({ url: redis.url });
    await check.connect();
    assert.equal(await check.get('test:survives'), 'yes', 'Redis kept its data');
    await check.close();
    await until(async () => (await isReady(cluster.node(0).url)) && (await isReady(cluster.node(1).url)), 10_000);
    await until(async () => (await statusOf(cluster.node(1), ['jan'])).jan === 'offline', 10_000, 50);
    const r = await push(cluster.node(1), { tenantId: 'acme', userId: 'jan', event: 'ping', payload: {} });
    assert.deepEqual(r.data, { target: 'user', sockets: 0 }, 'no connection of jan is left in the registry');
    assert.deepEqual(await statusOf(cluster.node(0), ['kay']), { kay: 'online' }, 'the connection that stayed is still there');
    assert.ok(kay.connected);
  });
});

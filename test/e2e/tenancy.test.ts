import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import type { Envelope } from '../../src/domain/protocol/envelope.js';
import { API_KEY, call, closeClients, connect, createRoom, fails, next, ok, record, settle, startServer, token, type TestServer } from '../helpers/harness.js';
import { prng } from '../helpers/prng.js';

/*
 * Tenant ids and user ids overlap on purpose: every user id exists in every tenant, and
 * `acme` + `eu:alice` reads like `acme:eu` + `alice` if anything joined ids with ':'.
 */
const TENANTS = ['acme', 'globex', 'acme:eu', 'eu'] as const;
const USERS = ['alice', 'bob', 'carol', 'eu:alice'] as const;
/** A user who exists in one tenant only. */
const LONE_USER = { tenant: 'globex', user: 'dave' } as const;
const devicesOf = (user: string): string[] => (user === 'alice' ? ['phone', 'laptop'] : ['phone']);

interface Received { event: string; env: Envelope<unknown> }
interface Client { index: number; tenant: string; user: string; device: string; socket: Socket; seen: Received[] }
interface Room { tenant: string; id: string; name: string; type: 'group' | 'channel'; isPublic: boolean; owner: string; members: Set<string>; messages: { id: string; clientMessageId: string }[] }
interface ErrorBody { code: string; message: string; details?: unknown }
interface Msg { id: string; seq: number; clientMessageId: string; content: string }
interface Presence { userId: string; status: string; devices: number }

const http = async (server: TestServer, method: string, path: string, body?: unknown): Promise<{ status: number; body: { ok: boolean; data?: unknown; error?: ErrorBody }; text: string }> => {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as { ok: boolean; data?: unknown; error?: ErrorBody }, text };
};

/** Which logical delivery a received envelope belongs to, for the exact-receiver check. */
function tagOf({ event, env }: Received): string | null {
  const data = env.payload.data as Record<string, unknown>;
  switch (event) {
    case 'message:new': return `msg ${String(data.clientMessageId)}`;
    case 'note.push': return `push ${String(data.tag)}`;
    case 'room:created': return `created ${String((data.conversation as { id: string }).id)}`;
    case 'room:member_joined': return `joined ${String(data.conversationId)} ${String((data.member as { userId: string }).userId)}`;
    case 'presence:changed': return `presence ${String(data.customStatus)}`;
    default: return null;
  }
}

describe('tenant isolation as a property', () => {
  const seed = Number(process.env.SWITCHBOARD_TEST_SEED ?? 0x7e4a17);
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const subset = <T>(xs: readonly T[], p: number): T[] => xs.filter(() => random() < p);
  /** With probability p the items that satisfy `wanted` (when there are any), else all of them. */
  const preferring = <T>(xs: readonly T[], wanted: (x: T) => boolean, p: number): readonly T[] => {
    const good = xs.filter(wanted);
    return good.length > 0 && random() < p ? good : xs;
  };

  let server: TestServer;
  const clients: Client[] = [];
  const rooms: Room[] = [];
  /** tag → indices of the clients that must receive it, once each. */
  const expected = new Map<string, number[]>();
  /** socket index → presence subscriptions as `tenant user`. */
  const following = new Map<number, Set<string>>();
  const counts = { sent: 0, refused: 0, created: 0, joined: 0, pushes: 0, presence: 0, intrusions: 0 };

  const clientsOf = (tenant: string, user: string) => clients.filter((c) => c.tenant === tenant && c.user === user);
  const usersOf = (tenant: string): string[] => (tenant === LONE_USER.tenant ? [...USERS, LONE_USER.user] : [...USERS]);
  const expect = (tag: string, receivers: Client[]) => {
    assert.ok(!expected.has(tag), `tag ${tag} used twice`);
    expected.set(tag, receivers.map((c) => c.index).sort((a, b) => a - b));
  };
  const memberSockets = (room: Room): Client[] => [...room.members].flatMap((u) => clientsOf(room.tenant, u));

  before(async () => {
    server = await startServer({ SWITCHBOARD_RATE_LIMITS: 'message=10000,room=10000,query=10000,presence=10000,typing=10000' });
    for (const tenant of TENANTS) {
      for (const user of usersOf(tenant)) {
        for (const device of devicesOf(user)) {
          const socket = await connect(server, user, { tenant, device });
          const client: Client = { index: clients.length, tenant, user, device, socket, seen: [] };
          socket.onAny((event: string, env: Envelope<unknown>) => client.seen.push({ event, env }));
          clients.push(client);
        }
      }
    }
  });
  after(async () => {
    closeClients();
    await server.dispose();
  });

  const createStep = async (step: number, actor: Client) => {
    const type = random() < 0.3 ? 'channel' : 'group';
    const isPublic = random() < 0.5;
    const others = subset(usersOf(actor.tenant).filter((u) => u !== actor.user), 0.5);
    const name = `r${step}`;
    const view = await createRoom(actor.socket, type, others, { name, isPublic });
    assert.equal(view.created, true);
    const room: Room = { tenant: actor.tenant, id: view.conversation.id, name, type, isPublic, owner: actor.user, members: new Set([actor.user, ...others]), messages: [] };
    assert.deepEqual(view.members.map((m) => m.userId).sort(), [...room.members].sort());
    assert.ok(!rooms.some((r) => r.id === room.id), 'conversation ids are unique across tenants');
    rooms.push(room);
    expect(`created ${room.id}`, memberSockets(room).filter((c) => c !== actor));
    counts.created += 1;
  };

  const sendStep = async (step: number, actor: Client, room: Room) => {
    const clientMessageId = `s${step}`;
    const r = await call<{ message: Msg }>(actor.socket, 'message:send', { conversationId: room.id, clientMessageId, content: `${actor.tenant} says ${step}` });
    const member = room.members.has(actor.user);
    const mayPost = room.type === 'group' || room.owner === actor.user;
    if (!member) {
      assert.ok(!r.ok && r.error.code === 'NOT_A_MEMBER', `non-member send: ${JSON.stringify(r)}`);
    } else if (!mayPost) {
      assert.ok(!r.ok && r.error.code === 'FORBIDDEN', `member send to a channel: ${JSON.stringify(r)}`);
    } else {
      assert.ok(r.ok, `member send: ${JSON.stringify(r)}`);
      assert.equal(r.data.message.seq, room.messages.length + 1);
      room.messages.push({ id: r.data.message.id, clientMessageId });
    }
    expect(`msg ${clientMessageId}`, r.ok ? memberSockets(room).filter((c) => c !== actor) : []);
    if (r.ok) counts.sent += 1;
    else counts.refused += 1;
  };

  const joinStep = async (actor: Client, room: Room) => {
    const r = await call(actor.socket, 'room:join', { conversationId: room.id });
    if (room.members.has(actor.user)) {
      assert.ok(r.ok, 'joining again is a no-op');
      return;
    }
    if (!room.isPublic) {
      assert.ok(!r.ok && r.error.code === 'FORBIDDEN', `join of a private room: ${JSON.stringify(r)}`);
      return;
    }
    assert.ok(r.ok, `join of a public room: ${JSON.stringify(r)}`);
    room.members.add(actor.user);
    expect(`joined ${room.id} ${actor.user}`, memberSockets(room).filter((c) => c !== actor));
    counts.joined += 1;
  };

  const pushStep = async (step: number, tenant: string) => {
    const tag = `p${step}`;
    const kind = random();
    const tenantRooms = rooms.filter((r) => r.tenant === tenant);
    let body: Record<string, unknown>;
    let receivers: Client[];
    let target: string;
    if (kind < 0.35) {
      // Any user id of any tenant: a user of another tenant with no namesake here reaches nobody.
      const user = pick([...USERS, LONE_USER.user]);
      const devices = devicesOf(user);
      const device = devices.length > 1 && random() < 0.5 ? pick(devices) : undefined;
      body = { userId: user, ...(device ? { deviceId: device } : {}) };
      receivers = clientsOf(tenant, user).filter((c) => device === undefined || c.device === device);
      target = 'user';
    } else if (kind < 0.7 && tenantRooms.length > 0) {
      const room = pick(tenantRooms);
      body = { roomId: room.id };
      receivers = memberSockets(room);
      target = 'room';
    } else {
      body = {};
      receivers = clients.filter((c) => c.tenant === tenant);
      target = 'tenant';
    }
    const r = await http(server, 'POST', '/v1/push', { tenantId: tenant, ...body, event: 'note.push', payload: { tag }, options: { volatile: random() < 0.3 } });
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.body.data, { target, sockets: target === 'tenant' ? null : receivers.length });
    expect(`push ${tag}`, receivers);
    counts.pushes += 1;
  };

  const presenceStep = async (step: number, actor: Client) => {
    if (random() < 0.5) {
      const ids = subset([...USERS, LONE_USER.user], 0.4);
      if (ids.length === 0) return;
      const r = await ok<{ presence: Presence[] }>(actor.socket, 'presence:subscribe', { userIds: ids });
      // What a subscriber sees is the presence of the users of its own tenant.
      assert.deepEqual(r.presence.map((p) => [p.userId, p.devices]), ids.map((u) => [u, clientsOf(actor.tenant, u).length]));
      const set = following.get(actor.index) ?? new Set<string>();
      for (const u of ids) set.add(`${actor.tenant} ${u}`);
      following.set(actor.index, set);
      return;
    }
    const tag = `u${step}`;
    await ok(actor.socket, 'presence:update', { status: pick(['online', 'away', 'dnd']), customStatus: tag });
    expect(`presence ${tag}`, clients.filter((c) => following.get(c.index)?.has(`${actor.tenant} ${actor.user}`)));
    counts.presence += 1;
  };

  const intrusionStep = async (step: number, room: Room) => {
    // The intruder has the same user id as a member of the room, in another tenant.
    const tenant = pick(TENANTS.filter((t) => t !== room.tenant));
    const namesakes = [...room.members].filter((u) => clientsOf(tenant, u).length > 0);
    const intruder = pick(clientsOf(tenant, namesakes.length > 0 ? pick(namesakes) : pick(USERS)));
    const conversationId = room.id;
    const messageId = room.messages.at(-1)?.id ?? 'no-message';
    const attempts: [string, unknown][] = [
      ['message:send', { conversationId, clientMessageId: `x${step}`, content: 'intrusion' }],
      ['message:history', { conversationId }],
      ['room:join', { conversationId }],
      ['room:get', { conversationId }],
      ['room:leave', { conversationId }],
      ['room:update', { conversationId, name: 'taken over', addMembers: [intruder.user], isPublic: true }],
      ['message:read', { conversationId, seq: 1 }],
      ['message:edit', { conversationId, messageId, content: 'rewritten' }],
      ['message:delete', { conversationId, messageId }],
      ['message:react', { conversationId, messageId, emoji: 'x' }],
      ['typing:start', { conversationId }],
      ['typing:stop', { conversationId }],
    ];
    for (const [event, payload] of attempts) {
      const error = await fails(intruder.socket, event, payload);
      assert.equal(error.code, 'NOT_FOUND', `${intruder.tenant}/${intruder.user} ${event} on ${room.tenant}'s ${room.type} (public: ${room.isPublic})`);
      assert.deepEqual(error.details, { conversationId });
    }
    const history = await http(server, 'GET', `/v1/tenants/${encodeURIComponent(tenant)}/conversations/${conversationId}/messages?after=0`);
    assert.equal(history.status, 404);
    const push = await http(server, 'POST', '/v1/push', { tenantId: tenant, roomId: conversationId, event: 'note.push', payload: { tag: `x${step}` } });
    assert.equal(push.status, 404);
    expect(`push x${step}`, []);
    counts.intrusions += 1;
  };

  it(`never lets an envelope, a conversation or a push cross tenants (seed ${seed})`, async () => {
    for (let step = 0; step < 220; step++) {
      const tenant = pick(TENANTS);
      const actor = pick(clients.filter((c) => c.tenant === tenant));
      const tenantRooms = rooms.filter((r) => r.tenant === tenant);
      const roll = random();
      if (roll < 0.12 || tenantRooms.length === 0) await createStep(step, actor);
      else if (roll < 0.45) await sendStep(step, actor, pick(preferring(tenantRooms, (r) => r.members.has(actor.user), 0.75)));
      else if (roll < 0.55) await joinStep(actor, pick(preferring(tenantRooms, (r) => r.isPublic && !r.members.has(actor.user), 0.9)));
      else if (roll < 0.67) await pushStep(step, tenant);
      else if (roll < 0.8) await presenceStep(step, actor);
      else await intrusionStep(step, pick(rooms.filter((r) => r.tenant !== tenant).concat(tenantRooms)));
    }
    await Promise.all(clients.map((c) => settle(c.socket)));

    // 1. No client ever received an envelope of another tenant.
    for (const c of clients) {
      const foreign = c.seen.filter((r) => r.env.tenant_id !== c.tenant);
      assert.deepEqual(foreign.map((r) => [r.event, r.env.tenant_id]), [], `${c.tenant}/${c.user}/${c.device} received another tenant's envelopes`);
    }
    // 2. Every delivery reached exactly the clients it was meant for, once each, and no one else.
    const actual = new Map<string, number[]>();
    for (const c of clients) {
      for (const r of c.seen) {
        const tag = tagOf(r);
        if (tag === null) continue;
        actual.set(tag, [...(actual.get(tag) ?? []), c.index]);
      }
    }
    for (const [tag, receivers] of actual) assert.ok(expected.has(tag), `unexpected delivery ${tag} to ${receivers.join(',')}`);
    for (const [tag, receivers] of expected) {
      assert.deepEqual((actual.get(tag) ?? []).sort((a, b) => a - b), receivers, `receivers of ${tag}`);
    }
    // 3. Stored state is what the tenant's own members did; intruders changed nothing.
    for (const room of rooms) {
      const owner = clientsOf(room.tenant, room.owner)[0]!;
      const view = await ok<{ conversation: { name: string; isPublic: boolean; tenantId: string }; members: { userId: string }[] }>(owner.socket, 'room:get', { conversationId: room.id });
      assert.equal(view.conversation.tenantId, room.tenant);
      assert.equal(view.conversation.name, room.name);
      assert.equal(view.conversation.isPublic, room.isPublic);
      assert.deepEqual(view.members.map((m) => m.userId).sort(), [...room.members].sort());
      const history = await ok<{ messages: Msg[] }>(owner.socket, 'message:history', { conversationId: room.id, after: 0, limit: 100 });
      assert.deepEqual(history.messages.map((m) => [m.id, m.clientMessageId, m.content.startsWith(`${room.tenant} says`)]), room.messages.map((m) => [m.id, m.clientMessageId, true]));
    }
    for (const c of clients) {
      const { conversations } = await ok<{ conversations: { id: string; tenantId: string }[] }>(c.socket, 'room:list', {});
      const mine = rooms.filter((r) => r.tenant === c.tenant && r.members.has(c.user)).map((r) => r.id).sort();
      assert.deepEqual(conversations.map((conv) => conv.id).sort(), mine, `${c.tenant}/${c.user} lists exactly its tenant's conversations`);
      assert.ok(conversations.every((conv) => conv.tenantId === c.tenant));
    }
    // 4. The property was exercised, not vacuous.
    for (const [what, n] of Object.entries(counts)) assert.ok(n >= 3, `only ${n} ${what} in ${JSON.stringify(counts)}`);
    for (const tenant of TENANTS) assert.ok(rooms.some((r) => r.tenant === tenant && r.messages.length > 0), `${tenant} had no messages`);
  });
});

describe('tenant isolation, case by case', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ SWITCHBOARD_RATE_LIMITS: 'message=1000,room=1000,query=1000' });
  });
  afterEach(closeClients);
  after(() => server.dispose());

  it('treats the same user id in two tenants as two different people', async () => {
    const aliceA = await connect(server, 'alice', { tenant: 'a' });
    const bobA = await connect(server, 'bob', { tenant: 'a' });
    const aliceB = await connect(server, 'alice', { tenant: 'b' });
    await connect(server, 'bob', { tenant: 'b' });
    const bobBSeen = record(aliceB, 'message:new');
    const dmA = await createRoom(aliceA, 'direct', ['bob']);
    const dmB = await createRoom(aliceB, 'direct', ['bob']);
    assert.equal(dmA.created, true);
    assert.equal(dmB.created, true, 'the direct conversation of the namesakes in b is a new one');
    assert.notEqual(dmA.conversation.id, dmB.conversation.id);
    const arrived = next<Msg>(bobA, 'message:new');
    await ok(aliceA, 'message:send', { conversationId: dmA.conversation.id, clientMessageId: 'same-id', content: 'for bob in a' });
    assert.equal((await arrived).payload.data.content, 'for bob in a');
    // The same clientMessageId in tenant b is a new message, not a duplicate of a's.
    const inB = await ok<{ message: Msg; duplicate: boolean }>(aliceB, 'message:send', { conversationId: dmB.conversation.id, clientMessageId: 'same-id', content: 'for bob in b' });
    assert.equal(inB.duplicate, false);
    assert.equal(inB.message.seq, 1);
    const historyB = await ok<{ messages: Msg[] }>(aliceB, 'message:history', { conversationId: dmB.conversation.id });
    assert.deepEqual(historyB.messages.map((m) => m.content), ['for bob in b']);
    await settle(aliceB);
    assert.equal(bobBSeen.length, 0, 'alice in b is not a device of alice in a');
    // Presence is per tenant: carol is online in a only.
    await connect(server, 'carol', { tenant: 'a' });
    const inA = await ok<{ presence: Presence[] }>(aliceA, 'presence:query', { userIds: ['carol'] });
    const elsewhere = await ok<{ presence: Presence[] }>(aliceB, 'presence:query', { userIds: ['carol'] });
    assert.deepEqual([inA.presence[0]!.status, elsewhere.presence[0]!.status], ['online', 'offline']);
    assert.equal(elsewhere.presence[0]!.devices, 0);
    // A message id of tenant a cannot be replied to from tenant b.
    const original = (await ok<{ messages: Msg[] }>(aliceA, 'message:history', { conversationId: dmA.conversation.id })).messages[0]!;
    const reply = await fails(aliceB, 'message:send', { conversationId: dmB.conversation.id, clientMessageId: 'reply', content: 'x', replyTo: original.id });
    assert.equal(reply.code, 'NOT_FOUND');
  });

  it('refuses to move a connection into another tenant with auth:refresh', async () => {
    const alice = await connect(server, 'alice', { tenant: 'a' });
    const aliceB = await connect(server, 'alice', { tenant: 'b', device: 'other' });
    const mismatch = await fails(alice, 'auth:refresh', { token: await token('alice', 'b') });
    assert.equal(mismatch.code, 'AUTH_MISMATCH');
    // The connection still belongs to tenant a: a push to b's alice does not reach it, a's does.
    const seen = record(alice, 'who.am.i');
    const toB = next<string>(aliceB, 'who.am.i');
    assert.deepEqual((await http(server, 'POST', '/v1/push', { tenantId: 'b', userId: 'alice', event: 'who.am.i', payload: 'b' })).body.data, { target: 'user', sockets: 1 });
    assert.equal((await toB).tenant_id, 'b');
    const arrived = next<string>(alice, 'who.am.i', (d) => d === 'a');
    assert.deepEqual((await http(server, 'POST', '/v1/push', { tenantId: 'a', userId: 'alice', event: 'who.am.i', payload: 'a' })).body.data, { target: 'user', sockets: 1 });
    await arrived;
    await settle(alice);
    assert.deepEqual(seen.map((e) => [e.tenant_id, e.payload.data]), [['a', 'a']]);
    // A fresh token of the same tenant and user is accepted.
    await ok(alice, 'auth:refresh', { token: await token('alice', 'a') });
  });

  it('answers another tenant\'s conversation exactly like one that does not exist, even a public channel', async () => {
    const owner = await connect(server, 'alice', { tenant: 'a' });
    const channel = (await createRoom(owner, 'channel', [], { name: 'open to all', isPublic: true })).conversation.id;
    const group = (await createRoom(owner, 'group', [], { name: 'public group', isPublic: true })).conversation.id;
    const { message } = await ok<{ message: Msg }>(owner, 'message:send', { conversationId: channel, clientMessageId: 'c1', content: 'secret of a' });
    // Alice in tenant b has the owner's very user id.
    const intruder = await connect(server, 'alice', { tenant: 'b' });
    const ownerSaw = record(owner, 'room:member_joined');
    for (const target of [channel, group]) {
      for (const event of ['room:join', 'room:get', 'message:history', 'message:send', 'message:react']) {
        const payload = { conversationId: target, ...(event === 'message:send' ? { clientMessageId: 'x', content: 'x' } : {}), ...(event === 'message:react' ? { messageId: message.id, emoji: 'x' } : {}) };
        const foreign = await fails(intruder, event, payload);
        const missing = await fails(intruder, event, { ...payload, conversationId: 'does-not-exist' });
        assert.equal(foreign.code, 'NOT_FOUND', `${event} on a's conversation`);
        assert.deepEqual([foreign.code, foreign.message, foreign.retryable], [missing.code, missing.message, missing.retryable], `${event}: no existence oracle`);
        assert.deepEqual(foreign.details, { conversationId: target });
      }
    }
    // In tenant a, the same public channel can be joined: the refusal is about the tenant.
    const local = await connect(server, 'bob', { tenant: 'a' });
    await ok(local, 'room:join', { conversationId: channel });
    await settle(owner);
    assert.deepEqual(ownerSaw.map((e) => (e.payload.data as { member: { userId: string } }).member.userId), ['bob']);
    const view = await ok<{ members: { userId: string }[] }>(owner, 'room:get', { conversationId: channel });
    assert.deepEqual(view.members.map((m) => m.userId).sort(), ['alice', 'bob']);
    // And over HTTP, the conversation exists in a only.
    assert.equal((await http(server, 'GET', `/v1/tenants/a/conversations/${channel}/messages`)).status, 200);
    const foreign = await http(server, 'GET', `/v1/tenants/b/conversations/${channel}/messages`);
    assert.equal(foreign.status, 404);
    assert.ok(!foreign.text.includes('secret of a'));
  });

  it('sends a tenant-wide push to that tenant only, also among look-alike tenant ids', async () => {
    const tenants = ['acme', 'acme:eu', 'acme.eu', 'eu', 'ACME'];
    const sockets = new Map<string, Socket[]>();
    for (const t of tenants) sockets.set(t, [await connect(server, 'alice', { tenant: t }), await connect(server, `${t}-only`, { tenant: t })]);
    const seen = new Map([...sockets].map(([t, ss]) => [t, ss.map((s) => record<{ to: string }>(s, 'tenant.notice'))]));
    for (const t of tenants) {
      const arrivals = sockets.get(t)!.map((s) => next<{ to: string }>(s, 'tenant.notice', (d) => d.to === t));
      const r = await http(server, 'POST', '/v1/push', { tenantId: t, event: 'tenant.notice', payload: { to: t } });
      assert.equal(r.status, 202);
      for (const env of await Promise.all(arrivals)) assert.equal(env.tenant_id, t);
    }
    for (const ss of sockets.values()) for (const s of ss) await settle(s);
    for (const [t, recorders] of seen) {
      for (const rec of recorders) assert.deepEqual(rec.map((e) => [e.tenant_id, e.payload.data.to]), [[t, t]], `${t} received exactly its own push`);
    }
    // A tenant with nobody connected: accepted, delivered to no one.
    const r = await http(server, 'POST', '/v1/push', { tenantId: 'acme-empty', event: 'tenant.notice', payload: { to: 'acme-empty' } });
    assert.equal(r.status, 202);
    for (const ss of sockets.values()) for (const s of ss) await settle(s);
    for (const recorders of seen.values()) for (const rec of recorders) assert.equal(rec.length, 1);
  });
});

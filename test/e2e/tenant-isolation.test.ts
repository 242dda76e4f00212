import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import type { Envelope } from '../../src/domain/protocol/envelope.js';
import { API_KEY, call, closeClients, connect, createRoom, ok, settle, startServer, type TestServer } from '../helpers/harness.js';

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TENANTS = ['acme', 'globex', 'initech'];
const USERS = ['alice', 'bob', 'carol', 'dave'];

interface Client { tenant: string; user: string; socket: Socket; seen: Envelope[] }

/*
 * Tenant isolation as a property: the same user ids exist in every tenant, conversations are
 * created, messages sent and pushes made at random, and whatever happens, no client ever
 * receives an envelope of another tenant, and no one reaches another tenant's conversation
 * even knowing its id.
 */
describe('tenant isolation', () => {
  let server: TestServer;
  const clients: Client[] = [];
  const rooms = new Map<string, string[]>();
  const seed = Number(process.env.SWITCHBOARD_TEST_SEED ?? 20261122);
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

  before(async () => {
    server = await startServer({ SWITCHBOARD_RATE_LIMITS: 'message=1000,room=1000', SWITCHBOARD_STORE: 'memory' });
    for (const tenant of TENANTS) {
      for (const user of USERS) {
        const socket = await connect(server, user, { tenant });
        const client: Client = { tenant, user, socket, seen: [] };
        socket.onAny((_event: string, env: Envelope) => client.seen.push(env));
        clients.push(client);
      }
    }
  });
  after(async () => {
    closeClients();
    await server.dispose();
  });

  it(`never lets an envelope or a conversation cross tenants (seed ${seed})`, async () => {
    const of = (tenant: string, user: string) => clients.find((c) => c.tenant === tenant && c.user === user)!;
    for (let step = 0; step < 120; step++) {
      const tenant = pick(TENANTS);
      const actor = of(tenant, pick(USERS));
      const action = random();
      const own = rooms.get(tenant) ?? [];
      if (action < 0.2 || own.length === 0) {
        const others = USERS.filter((u) => u !== actor.user && random() < 0.6);
        const room = await createRoom(actor.socket, 'group', others, { name: `r${step}` });
        rooms.set(tenant, [...own, room.conversation.id]);
      } else if (action < 0.7) {
        const result = await call(actor.socket, 'message:send', { conversationId: pick(own), clientMessageId: `s${step}`, content: `step ${step}` });
        assert.ok(result.ok || ['NOT_A_MEMBER'].includes(result.error.code), `unexpected ${JSON.stringify(result)}`);
      } else if (action < 0.85) {
        // Someone of another tenant tries a conversation of this one, knowing its id.
        const intruder = of(pick(TENANTS.filter((t) => t !== tenant)), actor.user);
        const target = pick(own);
        for (const [event, payload] of [
          ['message:send', { conversationId: target, clientMessageId: `x${step}`, content: 'intrusion' }],
          ['message:history', { conversationId: target }],
          ['room:join', { conversationId: target }],
          ['room:get', { conversationId: target }],
          ['typing:start', { conversationId: target }],
        ] as const) {
          const r = await call(intruder.socket, event, payload);
          assert.ok(!r.ok && r.error.code === 'NOT_FOUND', `${intruder.tenant}/${intruder.user} ${event} on ${tenant}'s conversation: ${JSON.stringify(r)}`);
        }
      } else {
        const res = await fetch(`${server.url}/v1/push`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(random() < 0.5 ? { tenantId: tenant, event: 'tenant.note', payload: { step } } : { tenantId: tenant, userId: actor.user, event: 'user.note', payload: { step } }),
        });
        assert.equal(res.status, 202);
      }
    }
    for (const c of clients) await settle(c.socket);

    for (const c of clients) {
      const foreign = c.seen.filter((env) => env.tenant_id !== c.tenant);
      assert.deepEqual(foreign, [], `${c.tenant}/${c.user} received another tenant's envelopes`);
    }
    // Every tenant saw traffic, so the property was exercised, not vacuous.
    for (const tenant of TENANTS) assert.ok(clients.filter((c) => c.tenant === tenant).some((c) => c.seen.length > 1), `${tenant} saw no traffic`);
    for (const c of clients) {
      const { conversations } = await ok<{ conversations: { id: string; tenantId: string }[] }>(c.socket, 'room:list', {});
      assert.ok(conversations.every((conv) => conv.tenantId === c.tenant && (rooms.get(c.tenant) ?? []).includes(conv.id)));
    }
  });
});

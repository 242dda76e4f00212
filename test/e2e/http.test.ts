import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { API_KEY, closeClients, connect, createRoom, next, ok, record, settle, startServer, type TestServer } from '../helpers/harness.js';

interface ErrorBody { code: string; message: string; retryable: boolean; details?: unknown; timestamp: string; requestId?: string }
type Body<D> = { ok: true; data: D } | { ok: false; error: ErrorBody };
interface Msg { seq: number; content: string }
interface Presence { userId: string; status: string; devices: number }

describe('HTTP API', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  afterEach(closeClients);
  after(() => server.dispose());

  const api = async <D>(method: string, path: string, body?: unknown, key: string | null = API_KEY): Promise<{ status: number; body: Body<D>; requestId: string | null }> => {
    const headers: Record<string, string> = {};
    if (key !== null) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Body<D>, requestId: res.headers.get('x-request-id') };
  };
  const failure = <D>(r: { body: Body<D> }): ErrorBody => {
    if (r.body.ok) throw new Error(`expected an error, got ${JSON.stringify(r.body.data)}`);
    return r.body.error;
  };
  const success = <D>(r: { body: Body<D> }): D => {
    if (!r.body.ok) throw new Error(`expected success, got ${r.body.error.code}: ${r.body.error.message}`);
    return r.body.data;
  };

  it('serves health without a key', async () => {
    const live = await fetch(`${server.url}/health/live`);
    assert.equal(live.status, 200);
    const ready = await fetch(`${server.url}/health/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { socket: 'ok', store: 'ok', cluster: 'ok' } });
  });

  it('refuses every /v1 route without the right key, in the error format, with a request id', async () => {
    for (const [method, path, body] of [['GET', '/v1/status'], ['POST', '/v1/push', {}], ['POST', '/v1/presence/query', {}], ['GET', '/v1/tenants/acme/conversations/x/messages']] as const) {
      for (const key of [null, 'wrong-key-0123456789']) {
        const r = await api(method, path, body, key);
        assert.equal(r.status, 401, `${method} ${path}`);
        const error = failure(r);
        assert.equal(error.code, 'API_KEY_INVALID');
        assert.equal(error.retryable, false);
        assert.ok(r.requestId && error.requestId === r.requestId, 'the error carries the request id of the header');
      }
    }
  });

  it('pushes to every device of a user, or to one device', async () => {
    const phone = await connect(server, 'hal', { device: 'phone' });
    const laptop = await connect(server, 'hal', { device: 'laptop' });
    const both = [phone, laptop].map((s) => next<{ amount: number }>(s, 'invoice.paid'));
    const r = await api<{ target: string; sockets: number }>('POST', '/v1/push', { tenantId: 'acme', userId: 'hal', event: 'invoice.paid', payload: { amount: 42 } });
    assert.equal(r.status, 202);
    assert.deepEqual(success(r), { target: 'user', sockets: 2 });
    for (const env of await Promise.all(both)) {
      assert.equal(env.type, 'event');
      assert.equal(env.tenant_id, 'acme');
      assert.deepEqual(env.payload, { action: 'invoice.paid', data: { amount: 42 } });
    }
    const laptopSeen = record(laptop, 'device.only');
    const onPhone = next(phone, 'device.only');
    assert.deepEqual(success(await api('POST', '/v1/push', { tenantId: 'acme', userId: 'hal', deviceId: 'phone', event: 'device.only', payload: 1 })), { target: 'user', sockets: 1 });
    await onPhone;
    await settle(laptop);
    assert.equal(laptopSeen.length, 0);
  });

  it('pushes to the members of a room only, and to a whole tenant only', async () => {
    const alice = await connect(server, 'ida');
    const bob = await connect(server, 'jon');
    const outsider = await connect(server, 'kim');
    const foreign = await connect(server, 'ida', { tenant: 'globex' });
    const room = (await createRoom(alice, 'group', ['jon'], { name: 'push' })).conversation.id;
    const outsiderSeen = record(outsider, 'room.news');
    const members = [alice, bob].map((s) => next(s, 'room.news'));
    assert.deepEqual(success(await api('POST', '/v1/push', { tenantId: 'acme', roomId: room, event: 'room.news', payload: { n: 1 } })), { target: 'room', sockets: 2 });
    await Promise.all(members);

    const foreignSeen = record(foreign, 'all.hands');
    const everyone = [alice, bob, outsider].map((s) => next(s, 'all.hands'));
    assert.deepEqual(success(await api('POST', '/v1/push', { tenantId: 'acme', event: 'all.hands', payload: {}, options: { volatile: true } })), { target: 'tenant', sockets: null });
    await Promise.all(everyone);
    await settle(outsider);
    await settle(foreign);
    assert.equal(outsiderSeen.length, 0, 'a non-member does not get a room push');
    assert.equal(foreignSeen.length, 0, 'another tenant does not get a tenant push');

    const missing = await api('POST', '/v1/push', { tenantId: 'acme', roomId: 'no-such-room', event: 'room.news', payload: 1 });
    assert.equal(missing.status, 404);
    assert.equal(failure(missing).code, 'NOT_FOUND');
    const otherTenant = await api('POST', '/v1/push', { tenantId: 'globex', roomId: room, event: 'room.news', payload: 1 });
    assert.equal(otherTenant.status, 404, 'a room id of another tenant is not found');
  });

  it('answers a bad push with 400 naming each invalid field', async () => {
    const cases: [unknown, string][] = [
      [{ userId: 'a', event: 'x', payload: 1 }, 'tenantId'],
      [{ tenantId: 'acme', userId: 'a', event: 'message:new', payload: 1 }, 'event'],
      [{ tenantId: 'acme', userId: 'a', event: 'has space', payload: 1 }, 'event'],
      [{ tenantId: 'acme', userId: 'a', roomId: 'r', event: 'x', payload: 1 }, '(root)'],
      [{ tenantId: 'acme', deviceId: 'd', event: 'x', payload: 1 }, '(root)'],
      [{ tenantId: 'acme', userId: 'a', event: 'x', payload: 1, surprise: true }, '(root)'],
    ];
    for (const [body, field] of cases) {
      const r = await api('POST', '/v1/push', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      const error = failure(r);
      assert.equal(error.code, 'VALIDATION_FAILED');
      assert.ok((error.details as { field: string }[]).some((d) => d.field === field), `${JSON.stringify(body)} → ${JSON.stringify(error.details)}`);
    }
    const notJson = await fetch(`${server.url}/v1/push`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: '{not json' });
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as { ok: false; error: ErrorBody }).error.code, 'VALIDATION_FAILED');
  });

  it('pages history by sequence number, and keeps other tenants out', async () => {
    const alice = await connect(server, 'lea');
    await connect(server, 'max');
    const room = (await createRoom(alice, 'direct', ['max'])).conversation.id;
    for (let i = 1; i <= 5; i++) await ok(alice, 'message:send', { conversationId: room, clientMessageId: `h${i}`, content: `m${i}` });
    const path = `/v1/tenants/acme/conversations/${room}/messages`;
    const newest = success(await api<{ messages: Msg[]; hasMore: boolean }>('GET', `${path}?limit=2`));
    assert.deepEqual(newest.messages.map((m) => m.seq), [4, 5]);
    assert.equal(newest.hasMore, true);
    const older = success(await api<{ messages: Msg[]; hasMore: boolean }>('GET', `${path}?before=4&limit=10`));
    assert.deepEqual(older.messages.map((m) => m.content), ['m1', 'm2', 'm3']);
    assert.equal(older.hasMore, false);
    const after = success(await api<{ messages: Msg[]; hasMore: boolean }>('GET', `${path}?after=3`));
    assert.deepEqual(after.messages.map((m) => m.seq), [4, 5]);

    const both = await api('GET', `${path}?before=3&after=1`);
    assert.equal(both.status, 400);
    const tooMany = await api('GET', `${path}?limit=1000`);
    assert.deepEqual((failure(tooMany).details as { field: string }[]).map((d) => d.field), ['limit']);
    const foreign = await api('GET', `/v1/tenants/globex/conversations/${room}/messages`);
    assert.equal(foreign.status, 404);
  });

  it('answers presence of a list of users, and status of the server', async () => {
    await connect(server, 'nia');
    await connect(server, 'nia', { device: 'second' });
    const presence = success(await api<{ presence: Presence[] }>('POST', '/v1/presence/query', { tenantId: 'acme', userIds: ['nia', 'ghost'] }));
    assert.deepEqual(presence.presence.map((p) => [p.userId, p.status, p.devices]), [['nia', 'online', 2], ['ghost', 'offline', 0]]);
    const empty = await api('POST', '/v1/presence/query', { tenantId: 'acme', userIds: [] });
    assert.deepEqual((failure(empty).details as { field: string }[]).map((d) => d.field), ['userIds']);

    const status = success(await api<Record<string, unknown>>('GET', '/v1/status'));
    assert.equal(status.activeConnections, 2);
    assert.equal(status.activeUsers, 1);
    for (const field of ['messageRate', 'errorRate', 'roomCount', 'uptime', 'memoryUsage']) assert.ok(field in status, field);
    assert.ok((status.memoryUsage as { rss: number }).rss > 0);
  });

  it('answers an unknown route with 404 in the error format', async () => {
    const r = await api('GET', '/v1/nothing-here');
    assert.equal(r.status, 404);
    assert.equal(failure(r).code, 'NOT_FOUND');
  });
});

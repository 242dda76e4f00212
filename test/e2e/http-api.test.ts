import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import type { PushResult, SystemMetrics as Metrics } from '../../src/core/api/server-api.js';
import type { Presence } from '../../src/domain/model.js';
import { API_KEY, call, closeClients, connect, createRoom, next, ok, record, settle, startServer, until, type TestServer } from '../helpers/harness.js';

interface ErrorBody { code: string; message: string; retryable: boolean; details?: unknown; timestamp: string; requestId?: string }
type Body<D> = { ok: true; data: D } | { ok: false; error: ErrorBody };
interface Reply<D> { status: number; body: Body<D>; requestId: string | null; text: string }
interface Field { field: string; message: string }
interface Msg { id: string; seq: number; senderId: string; clientMessageId: string; content: string; attachment?: string }
interface Page { messages: Msg[]; hasMore: boolean }

/** Payload size limit of the test server's HTTP bodies (and socket packets). */
const BODY_LIMIT = 65_536;

describe('HTTP API end to end', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ SWITCHBOARD_RATE_LIMITS: 'message=1000,room=1000,query=1000', SWITCHBOARD_MAX_HTTP_BUFFER_BYTES: String(BODY_LIMIT) });
  });
  afterEach(closeClients);
  after(() => server.dispose());

  type Auth = { key: string | null } | { header: string };
  const request = async <D>(method: string, path: string, body?: unknown, auth: Auth = { key: API_KEY }, extra: Record<string, string> = {}): Promise<Reply<D>> => {
    const headers: Record<string, string> = { ...extra };
    if ('header' in auth) headers.authorization = auth.header;
    else if (auth.key !== null) headers.authorization = `Bearer ${auth.key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Body<D>, requestId: res.headers.get('x-request-id'), text };
  };
  const push = (body: unknown) => request<PushResult>('POST', '/v1/push', body);
  const failure = <D>(r: Reply<D>): ErrorBody => {
    if (r.body.ok) throw new Error(`expected an error, got ${r.status} ${JSON.stringify(r.body.data)}`);
    return r.body.error;
  };
  const success = <D>(r: Reply<D>): D => {
    if (!r.body.ok) throw new Error(`expected success, got ${r.status} ${r.body.error.code}: ${r.body.error.message} ${JSON.stringify(r.body.error.details ?? '')}`);
    return r.body.data;
  };
  const fields = (e: ErrorBody): string[] => (e.details as Field[]).map((d) => d.field);
  const metrics = async (): Promise<Metrics> => success(await request<Metrics>('GET', '/v1/status'));
  /** Every message of a conversation through the HTTP API, oldest first. */
  const fullHistory = async (tenant: string, conversation: string): Promise<Msg[]> => {
    const all: Msg[] = [];
    for (;;) {
      const page = success(await request<Page>('GET', `/v1/tenants/${tenant}/conversations/${conversation}/messages?after=${all.at(-1)?.seq ?? 0}&limit=100`));
      all.push(...page.messages);
      if (!page.hasMore) return all;
    }
  };

  describe('health', () => {
    it('answers live and ready without a key, and ignores a wrong one', async () => {
      for (const headers of [{}, { authorization: 'Bearer not-the-key-at-all' }] as Record<string, string>[]) {
        const live = await fetch(`${server.url}/health/live`, { headers });
        assert.equal(live.status, 200);
        const liveBody = (await live.json()) as { status: string; checks: Record<string, string> };
        assert.equal(liveBody.status, 'live');
        assert.deepEqual(liveBody.checks, { socket: 'ok', store: 'ok', cluster: 'ok' });
        const ready = await fetch(`${server.url}/health/ready`, { headers });
        assert.equal(ready.status, 200);
        assert.deepEqual(await ready.json(), { status: 'ready', checks: { socket: 'ok', store: 'ok', cluster: 'ok' } });
        assert.ok(ready.headers.get('x-request-id'), 'health answers carry a request id too');
      }
    });
  });

  describe('API key', () => {
    const routes: [string, string, unknown][] = [
      ['GET', '/v1/status', undefined],
      ['POST', '/v1/push', { tenantId: 'acme', event: 'keyless.push', payload: { leaked: true } }],
      ['POST', '/v1/presence/query', { tenantId: 'acme', userIds: ['alice'] }],
      ['GET', '/v1/tenants/acme/conversations/anything/messages', undefined],
    ];
    const wrongAuth: [string, Auth][] = [
      ['no Authorization header', { key: null }],
      ['a wrong key', { key: 'wrong-key-0123456789' }],
      ['an empty bearer', { header: 'Bearer ' }],
      ['the key without the Bearer scheme', { header: API_KEY }],
      ['the key under another scheme', { header: `Basic ${API_KEY}` }],
      ['the key with a suffix', { key: `${API_KEY}x` }],
      ['a prefix of the key', { key: API_KEY.slice(0, -1) }],
    ];

    it('refuses every /v1 route without the right key with 401 API_KEY_INVALID, and does nothing', async () => {
      const alice = await connect(server, 'alice');
      const seen = record(alice, 'keyless.push');
      for (const [method, path, body] of routes) {
        for (const [what, auth] of wrongAuth) {
          const r = await request(method, path, body, auth);
          assert.equal(r.status, 401, `${method} ${path} with ${what}`);
          const error = failure(r);
          assert.equal(error.code, 'API_KEY_INVALID', `${method} ${path} with ${what}`);
          assert.equal(error.retryable, false);
          assert.ok(!Number.isNaN(Date.parse(error.timestamp)));
          assert.ok(r.requestId, 'a refused request has a request id');
          assert.equal(error.requestId, r.requestId, 'the error names the request id of the header');
        }
      }
      await settle(alice);
      assert.equal(seen.length, 0, 'a push refused for its key was not delivered');
      // The same requests with the key go through.
      const delivered = next(alice, 'keyless.push');
      for (const [method, path, body] of routes) {
        const r = await request(method, path, body);
        assert.notEqual(r.status, 401, `${method} ${path} with the key`);
      }
      await delivered;
    });
  });

  describe('POST /v1/push', () => {
    it('reaches every device of a user, and not the same user id in another tenant', async () => {
      const phone = await connect(server, 'alice', { device: 'phone' });
      const laptop = await connect(server, 'alice', { device: 'laptop' });
      const bob = await connect(server, 'bob');
      const foreignAlice = await connect(server, 'alice', { tenant: 'globex' });
      const bobSeen = record(bob, 'invoice.paid');
      const foreignSeen = record(foreignAlice, 'invoice.paid');
      const arrivals = [phone, laptop].map((s) => next<{ amount: number }>(s, 'invoice.paid'));
      const r = await push({ tenantId: 'acme', userId: 'alice', event: 'invoice.paid', payload: { amount: 42, lines: [1, 2] } });
      assert.equal(r.status, 202);
      assert.deepEqual(success(r), { target: 'user', sockets: 2 });
      const envs = await Promise.all(arrivals);
      for (const env of envs) {
        assert.equal(env.v, 1);
        assert.equal(env.type, 'event');
        assert.equal(env.tenant_id, 'acme');
        assert.deepEqual(env.payload, { action: 'invoice.paid', data: { amount: 42, lines: [1, 2] } });
        assert.ok(env.id);
        assert.ok(Math.abs(env.timestamp - Date.now()) < 60_000);
      }
      assert.equal(envs[0]!.id, envs[1]!.id, 'one push is one envelope, whichever device receives it');
      await Promise.all([settle(bob), settle(foreignAlice)]);
      assert.equal(bobSeen.length, 0, 'another user of the tenant does not get it');
      assert.equal(foreignSeen.length, 0, 'the same user id in another tenant does not get it');
      // And a push to the namesake in the other tenant reaches only that one.
      const phoneSeen = record(phone, 'globex.invoice');
      const toForeign = next(foreignAlice, 'globex.invoice');
      assert.deepEqual(success(await push({ tenantId: 'globex', userId: 'alice', event: 'globex.invoice', payload: {} })), { target: 'user', sockets: 1 });
      assert.equal((await toForeign).tenant_id, 'globex');
      await settle(phone);
      assert.equal(phoneSeen.length, 0);

      // Nobody connected: routed to no socket, still accepted.
      assert.deepEqual(success(await push({ tenantId: 'acme', userId: 'nobody-here', event: 'invoice.paid', payload: null })), { target: 'user', sockets: 0 });
    });

    it('reaches only the named device when deviceId is given', async () => {
      const phone = await connect(server, 'alice', { device: 'phone' });
      const laptop = await connect(server, 'alice', { device: 'laptop' });
      const laptopSeen = record(laptop, 'device.ping');
      const onPhone = next<{ n: number }>(phone, 'device.ping');
      assert.deepEqual(success(await push({ tenantId: 'acme', userId: 'alice', deviceId: 'phone', event: 'device.ping', payload: { n: 1 } })), { target: 'user', sockets: 1 });
      assert.equal((await onPhone).payload.data.n, 1);
      await settle(laptop);
      assert.equal(laptopSeen.length, 0, 'the other device does not get a device push');
      assert.deepEqual(success(await push({ tenantId: 'acme', userId: 'alice', deviceId: 'tablet', event: 'device.ping', payload: { n: 2 } })), { target: 'user', sockets: 0 });
      assert.deepEqual(success(await push({ tenantId: 'acme', userId: 'bob', deviceId: 'phone', event: 'device.ping', payload: { n: 3 } })), { target: 'user', sockets: 0 }, 'a device id of another user matches nothing');
      await settle(phone);
      await settle(laptop);
      assert.equal(laptopSeen.length, 0);
    });

    it('reaches the members of a room, every device of each, and no one else', async () => {
      const alicePhone = await connect(server, 'alice', { device: 'phone' });
      const aliceLaptop = await connect(server, 'alice', { device: 'laptop' });
      const bob = await connect(server, 'bob');
      const carol = await connect(server, 'carol');
      const foreignBob = await connect(server, 'bob', { tenant: 'globex' });
      const room = (await createRoom(alicePhone, 'group', ['bob'], { name: 'pushed' })).conversation.id;
      const carolSeen = record(carol, 'order.shipped');
      const foreignSeen = record(foreignBob, 'order.shipped');
      const arrivals = [alicePhone, aliceLaptop, bob].map((s) => next<{ id: number }>(s, 'order.shipped'));
      assert.deepEqual(success(await push({ tenantId: 'acme', roomId: room, event: 'order.shipped', payload: { id: 7 } })), { target: 'room', sockets: 3 });
      for (const env of await Promise.all(arrivals)) assert.deepEqual([env.tenant_id, env.payload.data.id], ['acme', 7]);
      await Promise.all([settle(carol), settle(foreignBob)]);
      assert.equal(carolSeen.length, 0, 'a non-member does not get a room push');
      assert.equal(foreignSeen.length, 0, 'a member\'s namesake in another tenant does not get it');

      // Membership is read at push time: bob leaves, and the next push skips him.
      await ok(bob, 'room:leave', { conversationId: room });
      const bobSeen = record(bob, 'order.cancelled');
      const toAlice = next(alicePhone, 'order.cancelled');
      assert.deepEqual(success(await push({ tenantId: 'acme', roomId: room, event: 'order.cancelled', payload: {} })), { target: 'room', sockets: 2 });
      await toAlice;
      await settle(bob);
      assert.equal(bobSeen.length, 0, 'a member who left no longer gets room pushes');
    });

    it('answers 404 for a room that does not exist in the tenant, and delivers nothing', async () => {
      const alice = await connect(server, 'alice');
      await connect(server, 'bob');
      const room = (await createRoom(alice, 'direct', ['bob'])).conversation.id;
      const aliceSeen = record(alice, 'lost.push');
      for (const [tenantId, roomId] of [['acme', 'no-such-room'], ['globex', room]]) {
        const r = await push({ tenantId, roomId, event: 'lost.push', payload: 1 });
        assert.equal(r.status, 404, `${tenantId}/${roomId}`);
        const error = failure(r);
        assert.equal(error.code, 'NOT_FOUND');
        assert.deepEqual(error.details, { conversationId: roomId });
      }
      await settle(alice);
      assert.equal(aliceSeen.length, 0);
    });

    it('reaches every connection of a tenant, members of nothing included, and no other tenant', async () => {
      const acme = await Promise.all([connect(server, 'alice'), connect(server, 'bob', { device: 'a' }), connect(server, 'bob', { device: 'b' }), connect(server, 'loner')]);
      const globex = await Promise.all([connect(server, 'alice', { tenant: 'globex' }), connect(server, 'bob', { tenant: 'globex' })]);
      const foreignSeen = globex.map((s) => record(s, 'all.hands'));
      const arrivals = acme.map((s) => next<{ at: string }>(s, 'all.hands'));
      const r = await push({ tenantId: 'acme', event: 'all.hands', payload: { at: 'noon' } });
      assert.equal(r.status, 202);
      assert.deepEqual(success(r), { target: 'tenant', sockets: null });
      for (const env of await Promise.all(arrivals)) assert.deepEqual([env.tenant_id, env.type, env.payload.data.at], ['acme', 'event', 'noon']);
      await Promise.all(globex.map(settle));
      assert.deepEqual(foreignSeen.map((s) => s.length), [0, 0], 'another tenant does not get a tenant push');

      // And the other way round.
      const acmeSeen = acme.map((s) => record(s, 'globex.news'));
      const globexArrivals = globex.map((s) => next(s, 'globex.news'));
      success(await push({ tenantId: 'globex', event: 'globex.news', payload: 'x' }));
      for (const env of await Promise.all(globexArrivals)) assert.equal(env.tenant_id, 'globex');
      await Promise.all(acme.map(settle));
      assert.deepEqual(acmeSeen.map((s) => s.length), [0, 0, 0, 0]);
    });

    it('delivers volatile pushes to connected clients, to a user, a room and a tenant', async () => {
      const alice = await connect(server, 'alice');
      const bob = await connect(server, 'bob');
      const room = (await createRoom(alice, 'group', ['bob'], { name: 'volatile' })).conversation.id;
      const cases: [Record<string, unknown>, Socket[], PushResult][] = [
        [{ userId: 'alice' }, [alice], { target: 'user', sockets: 1 }],
        [{ roomId: room }, [alice, bob], { target: 'room', sockets: 2 }],
        [{}, [alice, bob], { target: 'tenant', sockets: null }],
      ];
      for (const [target, receivers, expected] of cases) {
        const arrivals = receivers.map((s) => next<{ live: boolean }>(s, 'ticker.tick'));
        const r = await push({ tenantId: 'acme', ...target, event: 'ticker.tick', payload: { live: true }, options: { volatile: true, timeout: 1000 } });
        assert.deepEqual(success(r), expected);
        for (const env of await Promise.all(arrivals)) assert.equal(env.payload.data.live, true);
      }
      const bad = await push({ tenantId: 'acme', userId: 'alice', event: 'ticker.tick', payload: {}, options: { volatile: 'yes' } });
      assert.equal(bad.status, 400);
      assert.deepEqual(fields(failure(bad)), ['options.volatile']);
    });

    it('answers 400 VALIDATION_FAILED naming each invalid field, and delivers nothing', async () => {
      const alice = await connect(server, 'alice');
      const seen: unknown[] = [];
      alice.onAny((event: string, env: unknown) => seen.push([event, env]));
      const valid = { tenantId: 'acme', userId: 'alice', event: 'ok.event', payload: { a: 1 } };
      const cases: [string, unknown, string[]][] = [
        ['missing tenantId', { userId: 'alice', event: 'x', payload: 1 }, ['tenantId']],
        ['tenantId not a string', { ...valid, tenantId: 42 }, ['tenantId']],
        ['tenantId with a slash', { ...valid, tenantId: 'acme/other' }, ['tenantId']],
        ['userId with a space', { ...valid, userId: 'al ice' }, ['userId']],
        ['missing event', { tenantId: 'acme', userId: 'alice', payload: 1 }, ['event']],
        ['missing payload', { tenantId: 'acme', userId: 'alice', event: 'x' }, ['payload']],
        ['options not an object', { ...valid, options: null }, ['options']],
        ['reserved message:new', { ...valid, event: 'message:new' }, ['event']],
        ['reserved room:', { ...valid, event: 'room:created' }, ['event']],
        ['reserved session:', { ...valid, event: 'session:disconnect' }, ['event']],
        ['reserved server:', { ...valid, event: 'server:error' }, ['event']],
        ['reserved presence:', { ...valid, event: 'presence:changed' }, ['event']],
        ['reserved Socket.IO name connect', { ...valid, event: 'connect' }, ['event']],
        ['reserved Socket.IO name disconnect', { ...valid, event: 'disconnect' }, ['event']],
        ['reserved Socket.IO name error', { ...valid, event: 'error' }, ['event']],
        ['event too long', { ...valid, event: 'e'.repeat(65) }, ['event']],
        ['event empty', { ...valid, event: '' }, ['event']],
        ['event with a slash', { ...valid, event: 'a/b' }, ['event']],
        ['userId and roomId', { ...valid, roomId: 'some-room' }, ['(root)']],
        ['deviceId without userId', { tenantId: 'acme', deviceId: 'phone', event: 'x', payload: 1 }, ['(root)']],
        ['unknown field', { ...valid, priority: 'high' }, ['(root)']],
        ['several at once', { tenantId: '', userId: 7, event: 'message:new', payload: 1 }, ['tenantId', 'userId', 'event']],
        ['an array', [valid], ['(root)']],
      ];
      for (const [what, body, expected] of cases) {
        const r = await push(body);
        assert.equal(r.status, 400, what);
        const error = failure(r);
        assert.equal(error.code, 'VALIDATION_FAILED', what);
        assert.equal(error.retryable, false);
        assert.deepEqual(fields(error).sort(), [...expected].sort(), `${what}: ${JSON.stringify(error.details)}`);
        for (const d of error.details as Field[]) assert.ok(typeof d.message === 'string' && d.message.length > 0);
        assert.equal(error.requestId, r.requestId);
      }
      // A body that is not JSON, or not an object, is a 400 in the same format.
      for (const raw of ['{not json', '']) {
        const r = await request('POST', '/v1/push', raw);
        assert.equal(r.status, 400, JSON.stringify(raw));
        assert.equal(failure(r).code, 'VALIDATION_FAILED');
      }
      const plain = await fetch(`${server.url}/v1/push`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'text/plain' }, body: JSON.stringify(valid) });
      assert.equal(plain.status, 400, 'a body that is not sent as JSON is refused');
      assert.equal(((await plain.json()) as { error: ErrorBody }).error.code, 'VALIDATION_FAILED');
      // A body over the HTTP limit is a 413.
      const big = await push({ ...valid, payload: 'x'.repeat(BODY_LIMIT + 10) });
      assert.equal(big.status, 413);
      assert.equal(failure(big).code, 'PAYLOAD_TOO_LARGE');
      assert.equal(failure(big).requestId, big.requestId);
      await settle(alice);
      assert.deepEqual(seen, [], 'no refused push reached anyone');
      // A valid push still works after all of that.
      const arrived = next(alice, 'ok.event');
      success(await push(valid));
      await arrived;
    });
  });

  describe('GET /v1/tenants/:t/conversations/:c/messages', () => {
    let room: string;
    let sent: Msg[];
    before(async () => {
      const alice = await connect(server, 'historian');
      await connect(server, 'reader');
      room = (await createRoom(alice, 'group', ['reader'], { name: 'history' })).conversation.id;
      sent = [];
      for (let i = 1; i <= 60; i++) sent.push((await ok<{ message: Msg }>(alice, 'message:send', { conversationId: room, clientMessageId: `h${i}`, content: `secret ${i}` })).message);
      await ok(alice, 'message:send', { conversationId: room, clientMessageId: 'bin', type: 'media', content: 'file', attachment: new Uint8Array([0, 1, 254, 255]) });
      closeClients();
    });
    const path = () => `/v1/tenants/acme/conversations/${room}/messages`;
    const page = async (query: string): Promise<Page> => success(await request<Page>('GET', `${path()}${query}`));
    const seqs = (p: Page) => p.messages.map((m) => m.seq);
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

    it('returns the newest 50 by default, oldest first, with hasMore', async () => {
      const p = await page('');
      assert.deepEqual(seqs(p), range(12, 61));
      assert.equal(p.hasMore, true);
      assert.deepEqual(p.messages.slice(0, -1).map((m) => m.id), sent.slice(11).map((m) => m.id));
      assert.equal(p.messages[0]!.content, 'secret 12');
    });

    it('pages backwards with before and forwards with after, with exact hasMore', async () => {
      assert.deepEqual(seqs(await page('?limit=3')), [59, 60, 61]);
      const back = await page('?before=59&limit=5');
      assert.deepEqual([seqs(back), back.hasMore], [range(54, 58), true]);
      const first = await page('?before=4&limit=3');
      assert.deepEqual([seqs(first), first.hasMore], [[1, 2, 3], false], 'exactly the rest: no more');
      const forward = await page('?after=0&limit=2');
      assert.deepEqual([seqs(forward), forward.hasMore], [[1, 2], true]);
      const last = await page('?after=58&limit=3');
      assert.deepEqual([seqs(last), last.hasMore], [[59, 60, 61], false]);
      const past = await page('?after=61');
      assert.deepEqual([seqs(past), past.hasMore], [[], false]);
      const none = await page('?before=1');
      assert.deepEqual([seqs(none), none.hasMore], [[], false]);
      const max = await page('?after=0&limit=100');
      assert.deepEqual([seqs(max), max.hasMore], [range(1, 61), false]);
      // Walking the pages visits every message exactly once, in order.
      assert.deepEqual((await fullHistory('acme', room)).map((m) => m.id), max.messages.map((m) => m.id));
    });

    it('returns attachments as base64', async () => {
      const [bin] = (await page('?after=60')).messages;
      assert.equal(bin!.clientMessageId, 'bin');
      assert.equal(bin!.attachment, Buffer.from([0, 1, 254, 255]).toString('base64'));
    });

    it('answers 400 naming the invalid query field', async () => {
      const cases: [string, string[]][] = [
        ['?limit=0', ['limit']],
        ['?limit=101', ['limit']],
        ['?limit=ten', ['limit']],
        ['?limit=2.5', ['limit']],
        ['?before=-1', ['before']],
        ['?after=abc', ['after']],
        ['?before=5&after=1', ['(root)']],
        ['?cursor=5', ['(root)']],
      ];
      for (const [query, expected] of cases) {
        const r = await request('GET', `${path()}${query}`);
        assert.equal(r.status, 400, query);
        const error = failure(r);
        assert.equal(error.code, 'VALIDATION_FAILED', query);
        assert.deepEqual(fields(error), expected, `${query}: ${JSON.stringify(error.details)}`);
      }
      const badId = await request('GET', `/v1/tenants/acme/conversations/${encodeURIComponent('a b')}/messages`);
      assert.equal(badId.status, 400);
      assert.deepEqual(fields(failure(badId)), ['conversationId']);
      const badTenant = await request('GET', `/v1/tenants/${encodeURIComponent('ac me')}/conversations/${room}/messages`);
      assert.equal(badTenant.status, 400);
      assert.deepEqual(fields(failure(badTenant)), ['tenantId']);
    });

    it('answers 404 for an unknown conversation, and the same for another tenant\'s, leaking nothing', async () => {
      const unknown = await request('GET', '/v1/tenants/acme/conversations/no-such-conversation/messages');
      assert.equal(unknown.status, 404);
      const unknownError = failure(unknown);
      assert.equal(unknownError.code, 'NOT_FOUND');
      assert.deepEqual(unknownError.details, { conversationId: 'no-such-conversation' });
      for (const tenant of ['globex', 'acme2', 'ACME']) {
        const foreign = await request('GET', `/v1/tenants/${tenant}/conversations/${room}/messages?after=0&limit=100`);
        assert.equal(foreign.status, 404, tenant);
        const error = failure(foreign);
        assert.equal(error.code, 'NOT_FOUND');
        assert.equal(error.message, unknownError.message, 'indistinguishable from a conversation that does not exist');
        assert.deepEqual(error.details, { conversationId: room });
        assert.ok(!foreign.text.includes('secret'), 'no message content in the answer');
      }
      // A conversation of another tenant with messages is not readable from acme either.
      const stranger = await connect(server, 'historian', { tenant: 'globex' });
      await connect(server, 'reader', { tenant: 'globex' });
      const theirs = (await createRoom(stranger, 'direct', ['reader'])).conversation.id;
      await ok(stranger, 'message:send', { conversationId: theirs, clientMessageId: 'g1', content: 'globex only' });
      assert.equal((await fullHistory('globex', theirs)).length, 1);
      const cross = await request('GET', `/v1/tenants/acme/conversations/${theirs}/messages`);
      assert.equal(cross.status, 404);
      assert.ok(!cross.text.includes('globex only'));
    });
  });

  describe('POST /v1/presence/query', () => {
    it('answers the presence of each user in the tenant, in the order asked', async () => {
      await connect(server, 'pat', { device: 'one' });
      await connect(server, 'pat', { device: 'two' });
      const quinn = await connect(server, 'quinn');
      await ok(quinn, 'presence:update', { status: 'dnd', customStatus: 'focus' });
      const r = await request<{ presence: Presence[] }>('POST', '/v1/presence/query', { tenantId: 'acme', userIds: ['ghost', 'quinn', 'pat'] });
      assert.equal(r.status, 200);
      const presence = success(r).presence;
      assert.deepEqual(presence.map((p) => [p.userId, p.status, p.devices]), [['ghost', 'offline', 0], ['quinn', 'dnd', 1], ['pat', 'online', 2]]);
      assert.equal(presence[0]!.lastSeen, null);
      assert.equal(presence[1]!.customStatus, 'focus');
      assert.ok(presence[2]!.lastSeen && !Number.isNaN(Date.parse(presence[2]!.lastSeen)));
      // The same user ids in another tenant are somebody else.
      const foreign = success(await request<{ presence: Presence[] }>('POST', '/v1/presence/query', { tenantId: 'globex', userIds: ['pat', 'quinn'] })).presence;
      assert.deepEqual(foreign.map((p) => [p.userId, p.status, p.devices]), [['pat', 'offline', 0], ['quinn', 'offline', 0]]);
    });

    it('answers 400 naming the invalid field', async () => {
      const cases: [unknown, string[]][] = [
        [{ userIds: ['a'] }, ['tenantId']],
        [{ tenantId: 'acme', userIds: [] }, ['userIds']],
        [{ tenantId: 'acme', userIds: 'alice' }, ['userIds']],
        [{ tenantId: 'acme', userIds: ['ok', 'not ok'] }, ['userIds.1']],
        [{ tenantId: 'acme', userIds: Array.from({ length: 501 }, (_, i) => `u${i}`) }, ['userIds']],
        [{ tenantId: 'acme', userIds: ['a'], extra: true }, ['(root)']],
      ];
      for (const [body, expected] of cases) {
        const r = await request('POST', '/v1/presence/query', body);
        assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
        assert.deepEqual(fields(failure(r)), expected);
      }
    });
  });

  describe('GET /v1/status', () => {
    it('has every SystemMetrics field, with counts that follow the connected clients', async () => {
      await until(async () => (await metrics()).activeConnections === 0);
      const empty = await metrics();
      assert.deepEqual(Object.keys(empty).sort(), ['activeConnections', 'activeUsers', 'delivery', 'errorRate', 'memoryUsage', 'messageRate', 'processor', 'roomCount', 'uptime']);
      assert.deepEqual(Object.keys(empty.delivery).sort(), ['acks', 'deadLetters', 'expired', 'liveOnly', 'replayed', 'retries', 'slowConsumers']);
      assert.deepEqual(Object.keys(empty.messageRate).sort(), ['incoming', 'outgoing']);
      assert.deepEqual(Object.keys(empty.memoryUsage).sort(), ['external', 'heapTotal', 'heapUsed', 'rss']);
      assert.equal(empty.activeUsers, 0);
      assert.ok(Number.isInteger(empty.uptime) && empty.uptime >= 0);
      for (const v of Object.values(empty.memoryUsage)) assert.ok(Number.isFinite(v) && v >= 0);
      assert.ok(empty.memoryUsage.rss > 0 && empty.memoryUsage.heapUsed > 0);

      const phone = await connect(server, 'stat', { device: 'phone' });
      const laptop = await connect(server, 'stat', { device: 'laptop' });
      const other = await connect(server, 'other');
      const namesake = await connect(server, 'stat', { tenant: 'globex' });
      const full = await metrics();
      assert.equal(full.activeConnections, 4);
      assert.equal(full.activeUsers, 3, 'a user with two devices counts once; the same id in another tenant is another user');

      // A broadcast channel is one more room on the server.
      const before = full.roomCount;
      await createRoom(phone, 'channel', ['other'], { name: 'announcements' });
      assert.equal((await metrics()).roomCount, before + 1);

      // Traffic is counted: incoming events, outgoing deliveries, errors.
      await ok(phone, 'message:send', { conversationId: (await createRoom(phone, 'direct', ['other'])).conversation.id, clientMessageId: 's1', content: 'hi' });
      await call(phone, 'no:such:event', {});
      const busy = await metrics();
      assert.ok(busy.messageRate.incoming > 0, 'incoming events are counted');
      assert.ok(busy.messageRate.outgoing > 0, 'outgoing deliveries are counted');
      assert.ok(busy.errorRate > 0, 'rejected events are counted');

      laptop.close();
      namesake.close();
      await until(async () => (await metrics()).activeConnections === 2);
      const after = await metrics();
      assert.equal(after.activeUsers, 2);
      other.close();
      await until(async () => (await metrics()).activeUsers === 1);
    });
  });

  describe('request ids', () => {
    it('sends x-request-id on every answer, unique per request, and the same id in error bodies', async () => {
      const answers = [
        await request('GET', '/v1/status'),
        await request('GET', '/v1/status', undefined, { key: null }),
        await push({ tenantId: 'acme', event: 'message:new', payload: 1 }),
        await request('GET', '/v1/tenants/acme/conversations/none/messages'),
        await request('GET', '/v1/no-such-route'),
        await request('DELETE', '/v1/push'),
      ];
      const ids = answers.map((a) => a.requestId);
      for (const id of ids) assert.ok(id && id.length > 0);
      assert.equal(new Set(ids).size, ids.length, 'every request has its own id');
      assert.deepEqual(answers.map((a) => a.status), [200, 401, 400, 404, 404, 404]);
      for (const a of answers.slice(1)) assert.equal(failure(a).requestId, a.requestId);
      assert.equal(failure(answers[4]!).code, 'NOT_FOUND');
      assert.equal(answers[0]!.body.ok && 'requestId' in answers[0]!.body, false, 'a success body carries no error');
    });
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { closeClients, connect, connectError, fails, next, ok, SECRET, startServer, token, type TestServer } from '../helpers/harness.js';
import { mintToken } from '../../src/adapters/jose/mint-token.js';
import { SignJWT } from 'jose';

describe('handshake and session', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ SWITCHBOARD_MAX_CONNECTIONS_PER_USER: '3', SWITCHBOARD_TOKEN_WARNING_MS: '1000' });
  });
  after(async () => {
    closeClients();
    await server.dispose();
  });

  it('accepts a valid token and says who the session is', async () => {
    const socket = io(server.url, { auth: { token: await token('alice', 'acme', { device: 'phone' }), v: 1 }, transports: ['websocket'], reconnection: false, forceNew: true });
    const ready = await new Promise<{ payload: { data: Record<string, unknown> } }>((resolve) => socket.once('session:ready', resolve));
    assert.equal(ready.payload.data.userId, 'alice');
    assert.equal(ready.payload.data.tenantId, 'acme');
    assert.equal(ready.payload.data.deviceId, 'phone');
    assert.equal(ready.payload.data.socketId, socket.id);
    assert.equal(typeof ready.payload.data.expiresAt, 'number');
    socket.close();
  });

  it('refuses a missing, forged, expired or incomplete token with a documented code', async () => {
    assert.equal((await connectError(server, {})).data?.code, 'AUTH_REQUIRED');
    assert.equal((await connectError(server, { token: 'not-a-jwt' })).data?.code, 'AUTH_INVALID');
    const forged = await mintToken({ secret: 'another-secret-0123456789', user: 'alice', tenant: 'acme' });
    assert.equal((await connectError(server, { token: forged })).data?.code, 'AUTH_INVALID');
    const expired = await new SignJWT({ tid: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(SECRET));
    const err = await connectError(server, { token: expired });
    assert.equal(err.data?.code, 'AUTH_EXPIRED');
    assert.equal(err.message, 'The access token has expired');
    const noTenant = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    assert.equal((await connectError(server, { token: noTenant })).data?.code, 'AUTH_INVALID');
    const badUser = await new SignJWT({ tid: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setSubject('has space').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    assert.equal((await connectError(server, { token: badUser })).data?.code, 'AUTH_INVALID');
  });

  it('refuses an unsupported protocol version', async () => {
    const err = await connectError(server, { token: await token('alice'), v: 99 });
    assert.equal(err.data?.code, 'PROTOCOL_UNSUPPORTED');
    assert.deepEqual((err.data?.details as { supported: number[] }).supported, [1]);
  });

  it('limits connections per user', async () => {
    await Promise.all([1, 2, 3].map((i) => connect(server, 'busy', { device: `d${i}` })));
    const err = await connectError(server, { token: await token('busy') });
    assert.equal(err.data?.code, 'TOO_MANY_CONNECTIONS');
  });

  it('falls back to long-polling, and delivers a group event with each member’s offset over either transport', async () => {
    const socket = await connect(server, 'poller', { transports: ['polling'] });
    assert.equal(socket.io.engine.transport.name, 'polling');
    const viaWebSocket = await connect(server, 'ws-member', { transports: ['websocket'] });
    const sender = await connect(server, 'group-sender');
    const room = await ok<{ conversation: { id: string } }>(socket, 'room:create', { type: 'group', members: ['ws-member', 'group-sender'], name: 'polling works' });
    // ws-member's inbox holds one event more than the poller's before the message.
    await ok(sender, 'room:create', { type: 'group', members: ['ws-member'], name: 'another room' });
    const arrivals = [socket, viaWebSocket].map((s) => next<{ content: string }>(s, 'message:new'));
    await ok(sender, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'both-transports', content: 'to both transports' });
    const [polled, pushed] = await Promise.all(arrivals);
    assert.deepEqual([polled!.payload.data.content, polled!.offset], ['to both transports', 2]);
    assert.deepEqual([pushed!.payload.data.content, pushed!.offset], ['to both transports', 3]);
  });

  it('accepts a fresh token for the same user, and refuses one for someone else', async () => {
    const socket = await connect(server, 'refresher', { ttlSeconds: 600 });
    const fresh = await ok<{ expiresAt: number }>(socket, 'auth:refresh', { token: await token('refresher', 'acme', { ttlSeconds: 7200 }) });
    assert.ok(fresh.expiresAt > Date.now() + 3600_000);
    assert.equal((await fails(socket, 'auth:refresh', { token: await token('mallory') })).code, 'AUTH_MISMATCH');
    assert.equal((await fails(socket, 'auth:refresh', { token: await token('refresher', 'other-tenant') })).code, 'AUTH_MISMATCH');
    assert.equal((await fails(socket, 'auth:refresh', { token: 'garbage' })).code, 'AUTH_INVALID');
    await ok(socket, 'room:list', {});
  });

  it('warns before the token expires and disconnects with TOKEN_EXPIRED without a refresh', async () => {
    // Expiry is in whole seconds: a 3 s token expires 2–3 s after it is minted, so the warning
    // (1 s before) comes 1–2 s after it, never before the session is open.
    const socket = await connect(server, 'shortlived', { ttlSeconds: 3 });
    const expiring = await next<{ expiresAt: number }>(socket, 'auth:expiring', () => true, 4000);
    assert.ok(expiring.payload.data.expiresAt > Date.now());
    const closed = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    const notice = await next<{ code: string; reconnect: boolean }>(socket, 'session:disconnect', () => true, 5000);
    assert.equal(notice.payload.data.code, 'TOKEN_EXPIRED');
    assert.equal(notice.payload.data.reconnect, true);
    assert.equal(await closed, 'io server disconnect');
  });

  it('keeps a refreshed session open past the first expiry', async () => {
    const socket = await connect(server, 'kept', { ttlSeconds: 3 });
    await next(socket, 'auth:expiring', () => true, 4000);
    await ok(socket, 'auth:refresh', { token: await token('kept', 'acme', { ttlSeconds: 3600 }) });
    const longer = await connect(server, 'witness', { ttlSeconds: 2 });
    // The witness's token, minted after the warning, expires no earlier than the first one would have.
    await next(longer, 'session:disconnect', () => true, 5000);
    assert.equal(socket.connected, true);
    await ok(socket, 'room:list', {});
  });
});

describe('listening socket', () => {
  it('queues as many connections as SWITCHBOARD_LISTEN_BACKLOG says, for reconnection storms', async () => {
    // Below Node's default (511) and the kernel's cap, so the value read back can only be ours.
    const backlog = Math.min(500, Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8')) - 1);
    const server = await startServer({ SWITCHBOARD_LISTEN_BACKLOG: String(backlog) });
    try {
      // For a listening socket, `ss` shows the backlog in the Send-Q column.
      const listed = spawnSync('ss', ['-Hltn', `sport = :${server.port}`], { encoding: 'utf8' });
      assert.equal(listed.status, 0, listed.stderr);
      assert.equal(listed.stdout.trim().split(/\s+/)[2], String(backlog));
    } finally {
      await server.stop();
    }
  });
});

describe('with per-message compression (SWITCHBOARD_PER_MESSAGE_DEFLATE)', () => {
  it('delivers a large group event intact, with each member’s offset', async () => {
    const server = await startServer({ SWITCHBOARD_PER_MESSAGE_DEFLATE: 'true' });
    try {
      const members = await Promise.all(['deflate-a', 'deflate-b'].map((u) => connect(server, u, { transports: ['websocket'] })));
      const sender = await connect(server, 'deflate-sender');
      const room = await ok<{ conversation: { id: string } }>(sender, 'room:create', { type: 'group', members: ['deflate-a', 'deflate-b'], name: 'compressed' });
      const content = 'compressible '.repeat(400);
      const arrivals = members.map((s) => next<{ content: string }>(s, 'message:new'));
      await ok(sender, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'big', content });
      for (const env of await Promise.all(arrivals)) assert.deepEqual([env.payload.data.content, env.offset], [content, 2]);
      closeClients();
    } finally {
      await server.stop();
    }
  });
});

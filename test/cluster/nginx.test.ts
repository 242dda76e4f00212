import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type { Envelope } from '../../src/domain/protocol/envelope.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { next, ok, token, until } from '../helpers/harness.js';
import { freePort, startRedis, track, type TestRedis } from '../helpers/redis-server.js';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? 'nginx';

interface Ready { serverId: string }
interface Msg { clientMessageId: string; content: string }

/** deploy/nginx.conf, pointed at the test's servers and port, under a prefix of its own. */
function nginxConfig(upstreamPorts: number[], listenPort: number): string {
  const conf = readFileSync(new URL('../../deploy/nginx.conf', import.meta.url), 'utf8');
  const servers = [...conf.matchAll(/^\s*server 127\.0\.0\.1:\d+.*$/gm)];
  assert.equal(servers.length, upstreamPorts.length, 'the shipped config names three servers');
  let i = 0;
  return conf
    .replace(/^(\s*server 127\.0\.0\.1:)\d+/gm, (_m, head: string) => `${head}${upstreamPorts[i++]}`)
    .replace(/listen 8080;/, `listen 127.0.0.1:${listenPort};`)
    .replace(/worker_processes auto;/, 'worker_processes 1;');
}

/*
 * Three servers behind a real nginx running deploy/nginx.conf. Long-polling only works if
 * every request of a session reaches the server that holds it, so polling clients that chat
 * through nginx show that the configuration is sticky.
 */
describe('behind nginx with deploy/nginx.conf', () => {
  let redis: TestRedis;
  let cluster: TestCluster;
  let nginx: ChildProcess;
  let prefix: string;
  let url: string;
  const clients: Socket[] = [];

  before(async () => {
    redis = await startRedis();
    cluster = await startCluster(3, { SWITCHBOARD_REDIS_URL: redis.url, SWITCHBOARD_LOG_LEVEL: 'warn' });
    prefix = mkdtempSync(join(tmpdir(), 'switchboard-nginx-'));
    for (const d of ['logs', 'tmp']) mkdirSync(join(prefix, d));
    const port = await freePort();
    writeFileSync(join(prefix, 'nginx.conf'), nginxConfig([0, 1, 2].map((i) => cluster.node(i).port), port));
    nginx = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    track(nginx, 'SIGTERM');
    url = `http://127.0.0.1:${port}`;
    await until(async () => (await fetch(`${url}/health/ready`).catch(() => null))?.status === 200, 10_000, 50);
  });
  after(async () => {
    for (const c of clients) c.close();
    if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
      const gone = once(nginx, 'exit');
      // Fast shutdown: the master stops its workers first. Killed with SIGKILL, it would leave them listening.
      nginx.kill('SIGTERM');
      await gone;
    }
    await cluster?.stop();
    await redis?.stop();
    if (prefix) rmSync(prefix, { recursive: true, force: true });
  });

  it('keeps each long-polling session on one server while spreading clients over all three', async () => {
    const connectFrom = async (user: string, address: string): Promise<{ socket: Socket; serverId: string }> => {
      const socket = io(url, {
        auth: { token: await token(user), v: 1 },
        transports: ['polling'],
        agent: new Agent({ localAddress: address, keepAlive: true }) as unknown as string,
        reconnection: false,
        forceNew: true,
      });
      clients.push(socket);
      const ready = await new Promise<Envelope<Ready>>((resolve, reject) => {
        socket.once('session:ready', resolve);
        socket.once('connect_error', reject);
      });
      return { socket, serverId: ready.payload.data.serverId };
    };
    const users = await Promise.all(Array.from({ length: 12 }, (_, i) => connectFrom(`u${i}`, `127.0.0.${10 + i}`)));
    const servers = new Set(users.map((u) => u.serverId));
    assert.ok(servers.size >= 2, `all 12 clients landed on one server (${[...servers].join()})`);

    const [first, ...rest] = users;
    const room = await ok<{ conversation: { id: string } }>(first!.socket, 'room:create', { type: 'group', name: 'lb', members: rest.map((_, i) => `u${i + 1}`) });
    const arrivals = rest.map((u) => next<Msg>(u.socket, 'message:new', (m) => m.clientMessageId === 'lb-1'));
    await ok(first!.socket, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'lb-1', content: 'through nginx' });
    for (const env of await Promise.all(arrivals)) assert.equal(env.payload.data.content, 'through nginx');
  });

  it('upgrades to WebSocket through the proxy', async () => {
    const socket = io(url, { auth: { token: await token('ws-user'), v: 1 }, transports: ['polling', 'websocket'], reconnection: false, forceNew: true });
    clients.push(socket);
    await new Promise((resolve) => socket.once('session:ready', resolve));
    await until(() => socket.io.engine.transport.name === 'websocket', 5000);
    const list = await ok<{ conversations: unknown[] }>(socket, 'room:list', {});
    assert.ok(Array.isArray(list.conversations));
  });
});

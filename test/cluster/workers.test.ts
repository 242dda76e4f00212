import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type { Envelope } from '../../src/domain/protocol/envelope.js';
import { SECRET, next, ok, token } from '../helpers/harness.js';
import { onLogLines, type LogLine } from '../helpers/log-lines.js';
import { freePort, startRedis, track, type TestRedis } from '../helpers/redis-server.js';

interface Ready { serverId: string }
interface Msg { clientMessageId: string; content: string }

const baseEnv = (dataDir: string): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  HOST: '127.0.0.1',
  SWITCHBOARD_JWT_SECRET: SECRET,
  SWITCHBOARD_DATA_DIR: dataDir,
  SWITCHBOARD_LOG_LEVEL: 'info',
  SWITCHBOARD_DRAIN_WINDOW_MS: '200',
  SWITCHBOARD_SHUTDOWN_TIMEOUT_MS: '3000',
});

/*
 * `switchboard server --workers N`: one primary owns the port and hands connections to N
 * workers, which join into one cluster over Redis.
 */
describe('switchboard server --workers', { timeout: 180_000 }, () => {
  let redis: TestRedis;
  let primary: ChildProcess;
  let url: string;
  const logs: LogLine[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-workers-'));
  const clients: Socket[] = [];

  before(async () => {
    redis = await startRedis();
    const port = await freePort();
    primary = spawn(process.execPath, ['--import', 'tsx', 'src/app/cli.ts', 'server', '--workers', '2'], {
      env: { ...baseEnv(dataDir), PORT: String(port), SWITCHBOARD_REDIS_URL: redis.url },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    track(primary);
    url = `http://127.0.0.1:${port}`;
    await new Promise<void>((resolve, reject) => {
      onLogLines(primary.stdout!, (line) => {
        logs.push(line);
        if (line.msg === 'switchboard listening') resolve();
      });
      primary.once('exit', (code) => reject(new Error(`the primary exited early with ${code}; it logged:\n${problems()}`)));
      setTimeout(() => reject(new Error(`the primary did not listen within 30 s; it logged:\n${problems()}`)), 30_000).unref();
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    primary?.kill('SIGKILL');
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The last lines the primary and its workers logged, for a failure's message. */
  const problems = (): string => logs.slice(-30).map((l) => JSON.stringify(l)).join('\n');

  const connectAs = async (user: string, transports: ('polling' | 'websocket')[]): Promise<{ socket: Socket; serverId: string }> => {
    const socket = io(url, { auth: { token: await token(user), v: 1 }, transports, reconnection: false, forceNew: true });
    clients.push(socket);
    const ready = await new Promise<Envelope<Ready>>((resolve, reject) => {
      socket.once('session:ready', resolve);
      socket.once('connect_error', reject);
      socket.once('disconnect', (reason) => reject(new Error(`${user} was disconnected before its session was ready (${reason}); the server logged:\n${problems()}`)));
    });
    return { socket, serverId: ready.payload.data.serverId };
  };

  it('spreads connections over the workers, keeps long-polling sessions on theirs, and chats across them', async () => {
    assert.equal(logs.filter((l) => l.msg === 'worker ready').length, 2, 'both workers were ready before the port opened');
    const users = [];
    for (let i = 0; i < 6; i++) users.push(await connectAs(`w${i}`, i % 2 === 0 ? ['polling'] : ['websocket']));
    assert.equal(new Set(users.map((u) => u.serverId)).size, 2, 'the least-busy worker takes each new connection');

    const [first, ...rest] = users;
    const room = await ok<{ conversation: { id: string } }>(first!.socket, 'room:create', { type: 'group', name: 'workers', members: rest.map((_, i) => `w${i + 1}`) });
    const arrivals = rest.map((u) => next<Msg>(u.socket, 'message:new', (m) => m.clientMessageId === 'wk-1'));
    await ok(first!.socket, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'wk-1', content: 'across workers' });
    for (const env of await Promise.all(arrivals)) assert.equal(env.payload.data.content, 'across workers');
  });

  it('drains every worker on SIGTERM and exits cleanly', async () => {
    const { socket } = await connectAs('leaver', ['websocket']);
    const told = next<{ code: string; reconnect: boolean }>(socket, 'session:disconnect');
    const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
    primary.kill('SIGTERM');
    const reason = await told;
    assert.deepEqual(reason.payload.data, { code: 'SERVER_SHUTDOWN', message: 'The server is shutting down; reconnect elsewhere', reconnect: true });
    assert.equal(await exited, 0);
  });

  it('refuses --workers without Redis, with a clear message', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/app/cli.ts', 'server', '--workers', '2'], { env: { ...baseEnv(dataDir), PORT: '0' }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--workers needs SWITCHBOARD_REDIS_URL/);
  });
});

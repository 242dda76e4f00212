import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { next, ok } from '../helpers/harness.js';
import { onLogLines, type LogLine } from '../helpers/log-lines.js';


/** Starts `switchboard server` as a child process and resolves with its port once it logs that it listens. */
function startCli(env: Record<string, string>): Promise<{ child: ChildProcess; port: number; logs: LogLine[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/app/cli.ts', 'server'], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const logs: LogLine[] = [];
  return new Promise((resolve, reject) => {
    onLogLines(child.stdout!, (line) => {
      logs.push(line);
      if (line.msg === 'switchboard listening' && typeof line.port === 'number') resolve({ child, port: line.port, logs });
    });
    child.once('exit', (code) => reject(new Error(`server exited early with ${code}`)));
  });
}

describe('the switchboard command in dev mode', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-cli-'));
  const clients: Socket[] = [];
  after(() => {
    for (const c of clients) c.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts without configuration, says it is in dev mode, serves the demo and dev tokens, chats, and drains on SIGTERM', async () => {
    const { child, port, logs } = await startCli({ SWITCHBOARD_DATA_DIR: dataDir });
    const url = `http://127.0.0.1:${port}`;
    assert.ok(logs.some((l) => l.msg?.includes('DEV MODE')));

    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);

    const mint = async (user: string) => ((await (await fetch(`${url}/dev/token?user=${user}&tenant=acme`)).json()) as { token: string }).token;
    const connectAs = async (user: string) => {
      const s = io(url, { auth: { token: await mint(user), v: 1 }, transports: ['websocket'], reconnection: false });
      clients.push(s);
      await new Promise((r) => s.once('session:ready', r));
      return s;
    };
    const alice = await connectAs('alice');
    const bob = await connectAs('bob');
    const room = await ok<{ conversation: { id: string } }>(alice, 'room:create', { type: 'direct', members: ['bob'] });
    const got = next<{ content: string }>(bob, 'message:new');
    await ok(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'hello', content: 'hi bob' });
    assert.equal((await got).payload.data.content, 'hi bob');

    const notice = next<{ code: string; reconnect: boolean }>(bob, 'session:disconnect');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const env = await notice;
    assert.equal(env.payload.data.code, 'SERVER_SHUTDOWN');
    assert.equal(env.payload.data.reconnect, true);
    assert.equal(await exited, 0);
  });

  it('does not offer dev tokens once a secret is configured', async () => {
    const { child, port } = await startCli({ SWITCHBOARD_DATA_DIR: dataDir, SWITCHBOARD_JWT_SECRET: 'p'.repeat(32) });
    const r = await fetch(`http://127.0.0.1:${port}/dev/token?user=a&tenant=b`);
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onLogLines } from '../test/helpers/log-lines.js';
import { freePort } from '../test/helpers/redis-server.js';

export const SECRET = 'bench-secret-0123456789abcdef';

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Runs `node --import tsx <script>` and resolves with the first JSON line it prints that has a port. */
function launch(args: string[], env: Record<string, string>, portOf: (line: Record<string, unknown>) => number | undefined): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    onLogLines(child.stdout!, (line) => {
      const port = portOf(line);
      if (port) resolve({ child, port });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

export interface Running {
  urls: string[];
  stop(): Promise<void>;
}

async function stopAll(list: ChildProcess[]): Promise<void> {
  await Promise.all(list.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGKILL');
  })));
}

/** `n` Switchboard server processes sharing one data directory, joined over `redisUrl` if given. */
export async function startSwitchboards(n: number, redisUrl?: string): Promise<Running> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  const started = await Promise.all(Array.from({ length: n }, async () => {
    const port = await freePort();
    return launch(['src/app/cli.ts', 'server'], {
      PORT: String(port),
      HOST: '127.0.0.1',
      SWITCHBOARD_JWT_SECRET: SECRET,
      SWITCHBOARD_API_KEY: 'bench-api-key-0123456789',
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_LOG_LEVEL: 'info',
      SWITCHBOARD_RATE_LIMITS: 'message=100000,room=100000,query=100000',
      SWITCHBOARD_MAX_CONNECTIONS_PER_USER: '1000',
      SWITCHBOARD_DRAIN_WINDOW_MS: '0',
      ...(redisUrl ? { SWITCHBOARD_REDIS_URL: redisUrl } : {}),
    }, (l) => (l.msg === 'switchboard listening' ? Number(l.port) : undefined));
  }));
  return {
    urls: started.map((s) => `http://127.0.0.1:${s.port}`),
    async stop() {
      await stopAll(started.map((s) => s.child));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startBareRelay(): Promise<Running> {
  const { child, port } = await launch(['bench/bare-relay.ts'], {}, (l) => (typeof l.port === 'number' ? l.port : undefined));
  return { urls: [`http://127.0.0.1:${port}`], stop: () => stopAll([child]) };
}

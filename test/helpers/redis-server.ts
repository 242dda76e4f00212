import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createClient } from 'redis';

/** A `redis-server` the tests own: started on a free loopback port, killed and restarted at will. */
export interface TestRedis {
  port: number;
  url: string;
  /** Stops the server with SIGKILL and resolves when the process is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (after `kill`). */
  restart(): Promise<void>;
  /** Kills the server for good. */
  stop(): Promise<void>;
}

/** Finds a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Arguments of a memory-only redis-server on a loopback port. */
export function redisArgs(port: number, extra: string[] = []): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...extra];
}

/** Resolves once the server at `port` answers PING. */
export async function waitForRedis(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      await client.close();
      return;
    } catch (err) {
      // A client whose connect failed is already closed, and destroy() then throws.
      if (client.isOpen) client.destroy();
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Child processes started and not gone yet: one exit hook kills them all, however many were started. */
const running = new Set<ChildProcess>();

/** Kills `child` (SIGKILL) if the test process exits while it still runs. */
export function track(child: ChildProcess): void {
  if (!process.listeners('exit').includes(killRunning)) process.once('exit', killRunning);
  running.add(child);
  child.once('exit', () => running.delete(child));
}

function killRunning(): void {
  for (const c of running) c.kill('SIGKILL');
}

/** Starts a redis-server child process; it dies with the test process. */
export async function startRedis(extra: string[] = []): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn('redis-server', redisArgs(port, extra), { stdio: 'ignore' });
    track(child);
    await waitForRedis(port);
  };
  const kill = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGKILL');
    await exited(c);
  };
  await launch();
  return { port, url: `redis://127.0.0.1:${port}`, kill, restart: launch, stop: kill };
}

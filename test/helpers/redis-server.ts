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

/** Another process holds the port a server was started on. */
export class PortTakenError extends Error {}

/**
 * Runs `start` again while it fails because its port is taken: a port free a moment ago may
 * be taken by another process (an outgoing connection's ephemeral port) before a server binds
 * it. `start` gets the attempt's number, from 1.
 */
export async function retryWhilePortTaken<T>(start: (attempt: number) => Promise<T>, taken: (err: unknown) => boolean = (err) => err instanceof PortTakenError): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(attempt);
    } catch (err) {
      if (!taken(err) || attempt === 10) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/**
 * Resolves once the server at `port` answers PING. Given the `child` started on it, only if
 * that process answers: it fails at once if the child exits (it could not bind the port) or
 * another server answers there.
 */
export async function waitForRedis(port: number, timeoutMs = 10_000, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new PortTakenError(`redis-server on port ${port} exited at start`);
    const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      const info = child ? await client.info('server') : '';
      await client.close();
      if (child && !info.includes(`process_id:${child.pid}\r\n`)) throw new PortTakenError(`another server answers on port ${port}`);
      return;
    } catch (err) {
      if (err instanceof PortTakenError) throw err;
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
const running = new Map<ChildProcess, NodeJS.Signals>();

/**
 * Kills `child` if the test process exits while it still runs: with SIGKILL, or with the
 * signal given (nginx needs SIGTERM to stop its workers too).
 */
export function track(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!process.listeners('exit').includes(killRunning)) {
    process.once('exit', killRunning);
    // The test runner ends a file that runs out of time with SIGTERM, which skips 'exit' hooks.
    process.once('SIGTERM', () => {
      killRunning();
      process.exit(143);
    });
  }
  running.set(child, signal);
  child.once('exit', () => running.delete(child));
}

function killRunning(): void {
  for (const [c, signal] of running) c.kill(signal);
}

/**
 * Starts a redis-server child process; it dies with the test process. A port free a moment
 * ago may be taken by another process before the server binds it: then it starts on another
 * (or, restarting, tries the same port again).
 */
export async function startRedis(extra: string[] = []): Promise<TestRedis> {
  let port = 0;
  let child: ChildProcess | undefined;
  const kill = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGKILL');
    await exited(c);
  };
  const launch = async () => {
    child = spawn('redis-server', redisArgs(port, extra), { stdio: 'ignore' });
    track(child);
    try {
      await waitForRedis(port, 10_000, child);
    } catch (err) {
      await kill();
      throw err;
    }
  };
  await retryWhilePortTaken(async () => {
    port = await freePort();
    await launch();
  });
  return { port, url: `redis://127.0.0.1:${port}`, kill, restart: () => retryWhilePortTaken(launch), stop: kill };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onLogLines, type LogLine } from '../test/helpers/log-lines.js';
import { compiled } from './compiled.js';

export const SECRET = 'bench-secret-0123456789abcdef';
export const API_KEY = 'bench-api-key-0123456789';

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Node flags of every server process; `--cpu-prof` is added per run (see `ServerFlags`). */

export interface ServerFlags {
  /** Write a V8 CPU profile of each server process into this directory (on a clean exit). */
  cpuProfDir?: string;
}

interface Launched {
  child: ChildProcess;
  port: number;
  /** Date.now() when the process was spawned (the start of its CPU profile, near enough). */
  spawnedAt: number;
  /** Memory reports of the probe (bench/probe.ts), by pid. */
  probes: Map<number, ProbeReport>;
}

export interface ProbeReport {
  pid: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  at: number;
}

/** Runs the compiled `<script>` (bench/compiled.ts) and resolves with the first JSON line it prints that has a port. */
async function launch([script, ...rest]: string[], env: Record<string, string>, portOf: (line: LogLine) => number | undefined, flags: ServerFlags = {}): Promise<Launched> {
  const args = [await compiled(script!), ...rest];
  const nodeFlags = ['--expose-gc', '--import', await compiled('bench/probe.ts')];
  if (flags.cpuProfDir) {
    mkdirSync(flags.cpuProfDir, { recursive: true });
    nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${flags.cpuProfDir}`);
  }
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, [...nodeFlags, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const probes = new Map<number, ProbeReport>();
  return new Promise((resolve, reject) => {
    let resolved = false;
    onLogLines(child.stdout!, (line) => {
      if (line.probe && typeof line.probe === 'object') {
        const p = line.probe as ProbeReport;
        probes.set(p.pid, p);
        return;
      }
      if (typeof line.level === 'number' && line.level >= 50) console.error(`[server ${child.pid}] ${line.msg ?? ''} ${JSON.stringify(line.err ?? '')}`);
      const port = portOf(line);
      if (port && !resolved) {
        resolved = true;
        resolve({ child, port, probes, spawnedAt });
      }
    });
    child.once('exit', (code, signal) => {
      if (!resolved) reject(new Error(`${args.join(' ')} exited with ${code ?? signal}`));
    });
  });
}

/** Server processes started by the bench. */
export interface Running {
  urls: string[];
  /** Process ids of every server process (with `--workers`: the primary and its workers). */
  pids(): number[];
  /** Whether every server process is still running. */
  alive(): boolean;
  /** Date.now() when the first server process was (last) spawned. */
  spawnedAt(): number;
  /** Asks each server process to collect garbage and report its memory (bench/probe.ts). */
  probe(): Promise<ProbeReport[]>;
  /** Kills server `i` with SIGKILL and resolves when it is gone. */
  kill(i: number): Promise<void>;
  /** Starts server `i` again on its port (and data directory); resolves once it listens. */
  restart(i: number): Promise<void>;
  /** SIGTERM (so CPU profiles are written), SIGKILL after `graceMs`; then cleans up. */
  stop(graceMs?: number): Promise<void>;
}

function gone(c: ChildProcess): boolean {
  return c.exitCode !== null || c.signalCode !== null;
}

async function stopAll(list: ChildProcess[], graceMs = 0): Promise<void> {
  await Promise.all(list.map((c) => new Promise<void>((resolve) => {
    if (gone(c)) return resolve();
    c.once('exit', () => resolve());
    if (graceMs <= 0) {
      c.kill('SIGKILL');
      return;
    }
    c.kill('SIGTERM');
    setTimeout(() => {
      if (!gone(c)) c.kill('SIGKILL');
    }, graceMs).unref();
  })));
}

/** Children of `pid` (the workers of a `--workers` primary), from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

function runningOf(launched: () => (Launched | null)[], relaunch: (i: number) => Promise<Launched>, options: { withChildren?: boolean; cleanup?: () => void } = {}): Running {
  const pidsOf = (l: Launched) => (l.child.pid ? [l.child.pid, ...(options.withChildren ? childPids(l.child.pid) : [])] : []);
  return {
    urls: launched().map((l) => `http://127.0.0.1:${l!.port}`),
    spawnedAt: () => launched()[0]?.spawnedAt ?? 0,
    alive: () => launched().every((l) => l !== null && !gone(l.child)),
    pids: () => launched().flatMap((l) => (l && !gone(l.child) ? pidsOf(l) : [])),
    async probe() {
      const list = launched().filter((l): l is Launched => l !== null && !gone(l.child));
      const pids = list.flatMap(pidsOf);
      const asked = Date.now();
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGUSR2');
        } catch {
          // Gone meanwhile.
        }
      }
      const deadline = Date.now() + 10_000;
      const fresh = () => pids.map((pid) => list.map((l) => l.probes.get(pid)).find((p) => p && p.at >= asked));
      while (Date.now() < deadline && fresh().some((p) => !p)) await new Promise((r) => setTimeout(r, 50));
      return fresh().filter((p): p is ProbeReport => p !== undefined);
    },
    async kill(i) {
      const l = launched()[i];
      if (l) await stopAll([l.child]);
    },
    async restart(i) {
      await relaunch(i);
    },
    async stop(graceMs = 0) {
      await stopAll(launched().flatMap((l) => (l ? [l.child] : [])), graceMs);
      options.cleanup?.();
    },
  };
}

export interface SwitchboardOptions extends ServerFlags {
  /** Join the servers over this Redis. */
  redisUrl?: string;
  /** `switchboard server --workers N` (one primary, N workers behind one port; needs `redisUrl`). */
  workers?: number;
  env?: Record<string, string>;
}

/** Environment of a Switchboard under load: rate limits out of the way, quiet logs. */
export function switchboardEnv(port: number, dataDir: string, redisUrl?: string): Record<string, string> {
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    SWITCHBOARD_JWT_SECRET: SECRET,
    SWITCHBOARD_API_KEY: API_KEY,
    SWITCHBOARD_DATA_DIR: dataDir,
    SWITCHBOARD_LOG_LEVEL: 'info',
    SWITCHBOARD_TRANSPORTS: 'websocket,polling',
    SWITCHBOARD_RATE_LIMITS: 'message=100000,room=100000,query=100000,typing=100000,presence=100000',
    SWITCHBOARD_MAX_CONNECTIONS_PER_USER: '1000',
    SWITCHBOARD_DRAIN_WINDOW_MS: '0',
    SWITCHBOARD_SHUTDOWN_TIMEOUT_MS: '5000',
    ...(redisUrl ? { SWITCHBOARD_REDIS_URL: redisUrl } : {}),
  };
}

/**
 * Starts a server on port 0 (it picks a free one and reports it: no race with other
 * processes for a port chosen beforehand); a restart asks for the same port again, trying
 * a few times while the old one is being released.
 */
async function startOn(start: (port: number) => Promise<Launched>): Promise<{ first: Launched; again: () => Promise<Launched> }> {
  const first = await start(0);
  return {
    first,
    async again() {
      let last: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          return await start(first.port);
        } catch (err) {
          last = err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      throw last;
    },
  };
}

async function startMany(n: number, start: (port: number) => Promise<Launched>): Promise<{ started: (Launched | null)[]; relaunch: (i: number) => Promise<Launched> }> {
  const each = await Promise.all(Array.from({ length: n }, () => startOn(start)));
  const started: (Launched | null)[] = each.map((e) => e.first);
  return { started, relaunch: async (i) => (started[i] = await each[i]!.again()) };
}

/** `n` Switchboard server processes sharing one data directory, joined over `redisUrl` if given. */
export async function startSwitchboards(n: number, redisUrlOrOptions?: string | SwitchboardOptions): Promise<Running> {
  const o: SwitchboardOptions = typeof redisUrlOrOptions === 'string' ? { redisUrl: redisUrlOrOptions } : (redisUrlOrOptions ?? {});
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  const args = ['src/app/cli.ts', 'server', ...(o.workers ? ['--workers', String(o.workers)] : [])];
  const start = (port: number) => launch(args, { ...switchboardEnv(port, dataDir, o.redisUrl), ...o.env }, (l) => (l.msg === 'switchboard listening' ? Number(l.port) : undefined), o);
  try {
    const { started, relaunch } = await startMany(n, start);
    return runningOf(() => started, relaunch, {
      withChildren: Boolean(o.workers),
      cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
    });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** The bare Socket.IO relay (bench/bare-relay.ts); with `redisUrl`, `n` of them over Socket.IO's Redis adapter. */
export async function startBareRelay(o: ServerFlags & { n?: number; redisUrl?: string } = {}): Promise<Running> {
  const start = (port: number) => launch(['bench/bare-relay.ts'], { PORT: String(port), ...(o.redisUrl ? { REDIS_URL: o.redisUrl } : {}) }, (l) => (typeof l.port === 'number' ? l.port : undefined), o);
  const { started, relaunch } = await startMany(o.n ?? 1, start);
  return runningOf(() => started, relaunch);
}

/** The raw `ws` relay (bench/raw-ws-relay.ts). */
export async function startRawRelay(o: ServerFlags = {}): Promise<Running> {
  const start = (port: number) => launch(['bench/raw-ws-relay.ts'], { PORT: String(port) }, (l) => (typeof l.port === 'number' ? l.port : undefined), o);
  const { started, relaunch } = await startMany(1, start);
  return runningOf(() => started, relaunch);
}

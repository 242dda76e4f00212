import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onLogLines, type LogLine } from '../test/helpers/log-lines.js';
import { compiled } from './compiled.js';
import { freePort } from '../test/helpers/redis-server.js';

/*
 * The processes of the delivery benchmark: Switchboard servers, `switchboard processor` and
 * the bare Socket.IO relay, each compiled (bench/compiled.ts) on loopback, as bench/processes.ts
 * starts them, plus the environment each delivery path needs.
 */

export const DELIVERY_SECRET = 'delivery-bench-secret-0123456789';
export const DELIVERY_API_KEY = 'delivery-bench-api-key-0123456789';

/**
 * `DELIVERY_BENCH_CPU_PROF=<dir>`: servers and processors write V8 CPU profiles there
 * (they are then stopped with SIGTERM, so that the profile is written).
 */
export const PROFILE_DIR = process.env.DELIVERY_BENCH_CPU_PROF;

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** A process of ours: its warnings and errors are counted, so a run can report them. */
export interface BenchProcess {
  readonly child: ChildProcess;
  /** Log lines at warn level or above, the first few kept. */
  readonly problems: { count: number; first: string[] };
  /** Lines the process printed, for the caller to watch (e.g. the processor's counts at stop). */
  onLine(listener: (line: LogLine) => void): void;
  /** SIGTERM (SIGKILL after `graceMs`), resolving once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Runs the compiled `<script>` (bench/compiled.ts) and resolves once a log line satisfies `ready`. */
async function launch([script, ...rest]: string[], env: Record<string, string>, ready: (line: LogLine) => number | boolean | undefined, profile = false): Promise<{ proc: BenchProcess; value: number | boolean }> {
  const prof = profile && PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...prof, await compiled(script!), ...rest], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const problems = { count: 0, first: [] as string[] };
  const listeners: ((line: LogLine) => void)[] = [];
  const note = (text: string) => {
    problems.count += 1;
    if (problems.first.length < 3) problems.first.push(text.slice(0, 300));
  };
  onLogLines(child.stdout!, (line) => {
    if ((line.level ?? 0) >= 40) note(`${line.msg ?? ''} ${line.err ? JSON.stringify(line.err).slice(0, 200) : ''}`.trim());
    for (const l of listeners) l(line);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    for (const text of chunk.split('\n')) if (text.trim()) note(text);
  });
  const proc: BenchProcess = {
    child,
    problems,
    onLine: (l) => listeners.push(l),
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = exited(child);
      child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
    },
  };
  return new Promise((resolve, reject) => {
    proc.onLine((line) => {
      const value = ready(line);
      if (value) resolve({ proc, value });
    });
    child.once('exit', (code) => reject(new Error(`${script} ${rest.join(' ')} exited with ${code}: ${problems.first.join(' | ')}`)));
  });
}

/** The settings of one delivery path (what differs between the cases). */
export type PathEnv = Record<string, string>;

/** A data directory of our own, removed by `dispose`. */
export function dataDirectory(): { path: string; dispose(): void } {
  const path = mkdtempSync(join(tmpdir(), 'switchboard-delivery-bench-'));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

function baseEnv(dataDir: string): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    SWITCHBOARD_JWT_SECRET: DELIVERY_SECRET,
    SWITCHBOARD_API_KEY: DELIVERY_API_KEY,
    SWITCHBOARD_DATA_DIR: dataDir,
    SWITCHBOARD_LOG_LEVEL: 'info',
    SWITCHBOARD_TRANSPORTS: 'websocket',
    SWITCHBOARD_RATE_LIMITS: 'message=100000,room=100000,query=100000',
    SWITCHBOARD_MAX_CONNECTIONS_PER_USER: '1000',
    SWITCHBOARD_DRAIN_WINDOW_MS: '0',
  };
}

export interface BenchServer extends BenchProcess {
  url: string;
}

/** One Switchboard server (`switchboard server`) with the path's settings. */
export async function startServer(dataDir: string, env: PathEnv): Promise<BenchServer> {
  const port = await freePort();
  const { proc } = await launch(['src/app/cli.ts', 'server'], { ...baseEnv(dataDir), PORT: String(port), ...env }, (l) => l.msg === 'switchboard listening', true);
  return Object.assign(proc, { url: `http://127.0.0.1:${port}` });
}

/** `switchboard processor` with the path's settings; resolves once it consumes. */
export async function startProcessor(dataDir: string, env: PathEnv): Promise<BenchProcess> {
  const { proc } = await launch(['src/app/cli.ts', 'processor'], { ...baseEnv(dataDir), SWITCHBOARD_SERVER_ID: 'delivery-bench-processor', ...env }, (l) => l.msg === 'processor consuming', true);
  return proc;
}

/** bench/bare-relay.ts: the baseline relay, which prints its port. */
export async function startBareRelay(): Promise<BenchServer> {
  const { proc, value } = await launch(['bench/bare-relay.ts'], {}, (l) => (typeof l.port === 'number' ? l.port : undefined));
  return Object.assign(proc, { url: `http://127.0.0.1:${String(value)}` });
}

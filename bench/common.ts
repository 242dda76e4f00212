import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import type { LatencySummary } from './histogram.js';
import { startBareRelay, startRawRelay, startSwitchboards, type Running, type ServerFlags } from './processes.js';
import type { Dialect } from './wire.js';

/** Scale and switches of one `npm run bench` invocation (see bench/run.ts for the flags). */
export interface BenchOptions {
  smoke: boolean;
  /** Connect storm and reconnect storm: clients held by one server. */
  connections: number;
  /** Fan-out: members of the room (the sender included). */
  members: number;
  /** Point-to-point: conversations (two users each, both sending). */
  pairs: number;
  /** Point-to-point: seconds a rate must hold p99 < 100 ms. */
  hold: number;
  /** Point-to-point: seconds of flood before measuring, so the store holds history (0: start empty). */
  history: number;
  /** Seconds of each flood or paced phase (fan-out, cross-server). */
  seconds: number;
  /** Load generator processes. */
  generators: number;
  /** The 100k scenario: connections and worker processes. */
  hundredK: number;
  workers: number;
  /** Reconnect storm: full-jitter backoff of the clients. */
  backoffBaseMs: number;
  backoffCapMs: number;
  /** Content of a chat message, in bytes. */
  messageBytes: number;
  /** Profile the Switchboard server processes (`node --cpu-prof`) and summarise them. */
  cpuProf: boolean;
  /** Only these targets (switchboard, sio, raw); all when empty. */
  targets: string[];
}

export const DEFAULTS: BenchOptions = {
  smoke: false,
  connections: 10_000,
  members: 1000,
  pairs: 100,
  hold: 20,
  history: 0,
  seconds: 5,
  generators: 3,
  hundredK: 100_000,
  workers: 8,
  backoffBaseMs: 200,
  backoffCapMs: 5000,
  messageBytes: 200,
  cpuProf: false,
  targets: [],
};

/** What `smoke` changes: a few clients and about a second per phase. */
export const SMOKE: Partial<BenchOptions> = {
  smoke: true,
  connections: 24,
  members: 12,
  pairs: 3,
  hold: 0.5,
  seconds: 0.5,
  generators: 1,
  hundredK: 60,
  workers: 2,
  backoffCapMs: 1000,
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export type TargetKey = 'switchboard' | 'sio' | 'raw';

/** One server under test, as a single process. */
export interface Target {
  key: TargetKey;
  name: string;
  dialect: Dialect;
  start(flags: ServerFlags): Promise<Running>;
}

export const TARGETS: Record<TargetKey, Target> = {
  switchboard: { key: 'switchboard', name: 'Switchboard', dialect: 'switchboard', start: (f) => startSwitchboards(1, f) },
  sio: { key: 'sio', name: 'bare Socket.IO', dialect: 'sio', start: (f) => startBareRelay(f) },
  raw: { key: 'raw', name: 'raw ws', dialect: 'raw', start: (f) => startRawRelay(f) },
};

/** The targets of a scenario, filtered by `--targets`, the baseline (bare Socket.IO) first. */
export function targetsOf(o: BenchOptions, keys: TargetKey[]): Target[] {
  return keys.filter((k) => o.targets.length === 0 || o.targets.includes(k)).map((k) => TARGETS[k]);
}

/** utime + stime of the processes, in ms of CPU (from /proc/<pid>/stat, 100 ticks per second). */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone.
    }
  }
  return ticks * 10;
}

/** Resident set size of the processes in bytes (/proc/<pid>/status VmRSS). */
export function rssBytes(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      kb += Number(m?.[1] ?? 0);
    } catch {
      // Gone.
    }
  }
  return kb * 1024;
}

export function machine(): { cpu: string; cores: number; memoryGb: number; node: string } {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^Model name:\s+(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8').replace(/^model name\s*:/gm, 'Model name:'));
    cpu = m?.[1]?.trim() ?? cpu;
  } catch {
    // Not Linux.
  }
  return { cpu, cores: availableParallelism(), memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version };
}

export type Row = Record<string, string | number | null>;

/** Collects what a run printed, for the JSON copy. */
export class Report {
  readonly data: Record<string, unknown> = {};
  private readonly tables: Record<string, { title: string; rows: Row[]; footer?: string }[]> = {};

  set(scenario: string, key: string, value: unknown): void {
    const entry = (this.data[scenario] ??= {}) as Record<string, unknown>;
    entry[key] = value;
  }

  table(scenario: string, title: string, rows: Row[], footer?: string): void {
    (this.tables[scenario] ??= []).push({ title, rows, ...(footer ? { footer } : {}) });
    this.set(scenario, 'tables', this.tables[scenario]);
    console.log(`\n${markdownTable(title, rows, footer)}`);
  }
}

export function markdownTable(title: string, rows: Row[], footer?: string): string {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (v === null || v === undefined ? '–' : String(v));
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(' | ')} |`;
  const out = [`**${title}**`, '', line(cols), line(width.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))];
  if (footer) out.push('', footer);
  return out.join('\n');
}

/** A ratio with its budget verdict, e.g. `0.91 (≥ 0.80 pass)`. */
export function verdict(value: number | null, limit: number, direction: 'min' | 'max', digits = 2): string {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  const pass = direction === 'min' ? value >= limit : value <= limit;
  return `${value.toFixed(digits)} (${direction === 'min' ? '≥' : '≤'} ${limit} ${pass ? 'PASS' : 'FAIL'})`;
}

export const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? null : a / b;

export const round = (x: number | null | undefined, digits = 0): number | null => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10 ** digits) / 10 ** digits);

export const ms = (l: LatencySummary): { 'p50 ms': number | null; 'p99 ms': number | null } => ({ 'p50 ms': l.p50, 'p99 ms': l.p99 });

/** Runs `fn` with the target's server started, and always stops it (and the clients). */
export async function withServer<T>(start: () => Promise<Running>, fn: (server: Running) => Promise<T>, graceMs = 0): Promise<T> {
  const server = await start();
  try {
    const out = await fn(server);
    // A server that died under load makes every number of the run meaningless.
    if (!server.alive()) throw new Error('a server process exited during the run');
    return out;
  } finally {
    await server.stop(graceMs);
  }
}

/** Where a profiled run writes the CPU profiles of its Switchboard processes (only with `--cpu-prof`). */
export function profileDir(o: BenchOptions, scenario: string, target: TargetKey): string | undefined {
  if (!o.cpuProf || target !== 'switchboard') return undefined;
  return new URL(`results/profiles/${scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}/`, import.meta.url).pathname;
}

/** The wall-clock span of a measured phase (Date.now()), and when the profiled process was spawned. */
export interface MeasuredWindow {
  from: number;
  to: number;
  spawnedAt: number;
}

/** Prints the top self-time functions and areas of the busiest profile in `dir`. */
export async function reportProfile(report: Report, scenario: string, dir: string | undefined, window?: MeasuredWindow): Promise<void> {
  if (!dir) return;
  const { summarizeProfiles } = await import('./profile.js');
  const [busiest] = summarizeProfiles(dir, 15, window && { fromMs: window.from - window.spawnedAt, toMs: window.to - window.spawnedAt });
  if (!busiest) {
    console.log(`\n(no CPU profile was written in ${dir})`);
    return;
  }
  report.set(scenario, 'profile', busiest);
  const busy = busiest.totalMs - busiest.idleMs;
  const span = window ? `the measured ${Math.round((window.to - window.from) / 100) / 10} s` : 'the whole process';
  report.table(scenario, `${scenario}: Switchboard CPU profile over ${span}, self time (${busy} ms busy of ${busiest.totalMs} ms; ${busiest.file})`, busiest.functions);
  report.table(scenario, `${scenario}: Switchboard CPU profile, self time by area`, busiest.areas);
  report.table(scenario, `${scenario}: Switchboard CPU profile, inclusive time of src/ functions`, busiest.ownInclusive);
}

import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { startRedis, type TestRedis } from '../test/helpers/redis-server.js';
import { bareClient, listen, paced, percentile, PhaseTracker, sleep, switchboardClient, windowed, type LoadClient, type Pair } from './delivery-load.js';
import { dataDirectory, DELIVERY_API_KEY, PROFILE_DIR, startBareRelay, startProcessor, startServer, type BenchProcess, type BenchServer, type PathEnv } from './delivery-processes.js';

/*
 * Parts 1 and 2 of the delivery benchmark: one delivery path per case, in its own processes,
 * measured at a fixed rate and with windowed senders; Redis commands counted per phase.
 */

/** One delivery path under test. */
export interface PathCase {
  key: string;
  name: string;
  kind: 'bare' | 'switchboard';
  /** Server (and processor) settings on top of the common ones. */
  env: PathEnv;
  /** Starts a redis-server of its own and sets SWITCHBOARD_REDIS_URL. */
  redis: boolean;
  /** Runs `switchboard processor` next to the server(s). */
  processor: boolean;
  /** 2: every recipient is on the other server. */
  servers: 1 | 2;
  /** Which processor backlog to watch: the inline one (HTTP status) or the Redis log's groups. */
  backlog: 'none' | 'inline' | 'redis-log';
}

export interface LoadSettings {
  pairs: number;
  window: number;
  seconds: number;
  maxMessages: number;
  pacedCount: number;
  pacedRate: number;
  warmSeconds: number;
  /** Messages of the MONITOR phase (Redis paths only), at `pacedRate`. */
  monitoredCount: number;
}

/** Redis commands of one phase: calls and server time per command. */
export type CommandStats = Map<string, { calls: number; usec: number }>;

export interface PhaseResult {
  phase: 'warm' | 'paced' | 'windowed' | 'monitored';
  seconds: number;
  sent: number;
  acked: number;
  failed: number;
  delivered: number;
  windowAcked: number;
  windowDelivered: number;
  ack: { p50: number; p99: number };
  deliver: { p50: number; p99: number };
  /** Messages acknowledged but not yet in the store right after the phase, and how long the processor took to catch up from the last ack. */
  backlogAtEnd: number | null;
  drainMs: number | null;
  redis: CommandStats | null;
  /** CPU time per acknowledged message, in µs, from the phase's start until the store had every message. */
  cpu: { servers: number | null; processor: number | null; redis: number | null; loadGenerator: number };
  /**
   * CPU the rest of the machine used during the phase (busy time of all cores minus this
   * benchmark's processes and Redis), as a share of one core: above a few %, other work disturbed it.
   */
  otherLoad: number | null;
  /** From MONITOR (the `monitored` phase only): commands sent by clients vs run inside scripts. */
  monitor: MonitorCounts | null;
}

/** Per command: calls that were a client's round trip, and calls made inside a Lua script. */
export type MonitorCounts = Map<string, { client: number; script: number }>;

export interface CaseResult {
  key: string;
  name: string;
  startupMs: number;
  phases: PhaseResult[];
  processor: Record<string, number> | null;
  problems: { count: number; first: string[] };
}

/** The admin's own commands (polling, stats), left out of the counts. */
const ADMIN_COMMANDS = new Set(['info', 'config|resetstat', 'xinfo|groups', 'xlen']);

function parseCommandStats(info: string): CommandStats {
  const out: CommandStats = new Map();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    if (!ADMIN_COMMANDS.has(m[1]!)) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

type Admin = ReturnType<typeof createClient>;

/** CPU time (user + system) a process used so far, in µs, from /proc (Linux; null elsewhere). */
function processCpuMicros(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const CLOCK_TICKS_PER_SECOND = 100;
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** CPU time the whole machine spent busy so far (all cores, /proc/stat), in µs; null elsewhere. */
function machineBusyMicros(): number | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3]! - cpu[4]!;
    return (busy * 1e6) / 100;
  } catch {
    return null;
  }
}

/** Redis's own CPU time so far (INFO cpu), in µs. */
async function redisCpuMicros(admin: Admin): Promise<number> {
  const info = String(await admin.sendCommand(['INFO', 'cpu']));
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

/**
 * A MONITOR connection counting what Redis runs: a script's own calls show as `[0 lua]`,
 * a client's as its address. Used only in a phase of its own (MONITOR slows Redis down).
 */
async function monitor(port: number): Promise<{ stop(): MonitorCounts }> {
  const counts: MonitorCounts = new Map();
  const socket = connect(port, '127.0.0.1');
  let rest = '';
  let started!: () => void;
  const ok = new Promise<void>((resolve) => (started = resolve));
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\r\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '+OK') started();
      const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
      if (!m) continue;
      const name = m[2]!.toLowerCase();
      if (ADMIN_COMMANDS.has(name) || name === 'config' || name === 'xinfo') continue;
      const c = counts.get(name) ?? { client: 0, script: 0 };
      if (m[1] === 'lua') c.script += 1;
      else c.client += 1;
      counts.set(name, c);
    }
  });
  socket.on('error', () => undefined);
  socket.write('MONITOR\r\n');
  await ok;
  return {
    stop() {
      socket.destroy();
      return counts;
    },
  };
}

/** Messages the Redis log's processor group has not acknowledged yet (lag + pending over every partition). */
async function redisLogBacklog(admin: Admin): Promise<number> {
  let total = 0;
  for (let p = 0; p < 16; p++) {
    const key = `sb:log:{${p}}`;
    const groups = (await admin.sendCommand(['XINFO', 'GROUPS', key]).catch(() => [])) as unknown[][];
    const group = groups.find((g) => g[1] === 'processor');
    if (!group) {
      total += Number(await admin.sendCommand(['XLEN', key]));
      continue;
    }
    const field = (name: string) => group[group.indexOf(name) + 1];
    const lag = field('lag');
    total += Number(field('pending') ?? 0) + (lag === null || lag === undefined ? Number(await admin.sendCommand(['XLEN', key])) - Number(field('entries-read') ?? 0) : Number(lag));
  }
  return total;
}

/** The inline processor's counts, from the server's status. */
async function inlineCounts(url: string): Promise<Record<string, number> | null> {
  const res = await fetch(`${url}/v1/status`, { headers: { authorization: `Bearer ${DELIVERY_API_KEY}` } });
  const body = (await res.json()) as { data?: { processor?: Record<string, number> | null } };
  return body.data?.processor ?? null;
}

interface CpuSnapshot {
  servers: number | null;
  processor: number | null;
  redis: number | null;
  loadGenerator: number;
  machine: number | null;
  at: number;
}

/** Busy CPU between two snapshots that was not ours, in % of one core. */
function otherLoad(a: CpuSnapshot, b: CpuSnapshot): number | null {
  if (a.machine === null || b.machine === null || a.servers === null || b.servers === null) return null;
  const ours = (b.servers - a.servers) + (b.processor ?? 0) - (a.processor ?? 0) + (b.redis ?? 0) - (a.redis ?? 0) + (b.loadGenerator - a.loadGenerator);
  const wallMicros = (b.at - a.at) * 1000;
  return Math.max(0, Math.round((100 * (b.machine - a.machine - ours)) / wallMicros));
}

/** Starts the case's processes and connections, runs its phases, and stops everything it started. */
export async function runCase(c: PathCase, load: LoadSettings): Promise<CaseResult> {
  let redis: TestRedis | undefined;
  let admin: Admin | undefined;
  const dir = dataDirectory();
  const servers: BenchServer[] = [];
  let processor: BenchProcess | undefined;
  let processorCounts: Record<string, number> | null = null;
  const clients: LoadClient[] = [];
  try {
    const t0 = performance.now();
    if (c.redis) {
      redis = await startRedis();
      admin = createClient({ url: redis.url });
      admin.on('error', () => undefined);
      await admin.connect();
    }
    const env: PathEnv = { ...c.env, ...(redis ? { SWITCHBOARD_REDIS_URL: redis.url } : {}) };
    if (c.kind === 'bare') servers.push(await startBareRelay());
    else servers.push(...(await Promise.all(Array.from({ length: c.servers }, () => startServer(dir.path, env)))));
    if (c.processor) {
      processor = await startProcessor(dir.path, env);
      processor.onLine((line) => {
        if (line.msg === 'processor stopped') processorCounts = Object.fromEntries(['batches', 'stored', 'repeats', 'retries', 'deadLetters'].map((k) => [k, Number(line[k] ?? 0)]));
      });
    }
    const startupMs = Math.round(performance.now() - t0);

    const pairs: Pair[] = [];
    const urlA = servers[0]!.url;
    const urlB = servers[servers.length - 1]!.url;
    for (let i = 0; i < load.pairs; i++) {
      const ua = `${c.key}-${i}-a`;
      const ub = `${c.key}-${i}-b`;
      let a: LoadClient;
      let b: LoadClient;
      if (c.kind === 'bare') {
        a = await bareClient(urlA, ua, ub);
        b = await bareClient(urlB, ub, ua);
      } else {
        const sa = await switchboardClient(urlA, ua);
        const sb = await switchboardClient(urlB, ub);
        sa.conversation = sb.conversation = await sa.createDirect(ub);
        a = sa;
        b = sb;
      }
      clients.push(a, b);
      pairs.push({ from: a, to: b }, { from: b, to: a });
    }
    let current: PhaseTracker | null = null;
    listen(pairs, () => current);

    let accepted = 0;
    const backlog = async (): Promise<number | null> => {
      if (c.backlog === 'redis-log') return redisLogBacklog(admin!);
      if (c.backlog === 'inline') {
        const counts = await inlineCounts(urlA);
        return counts ? accepted - (counts.stored ?? 0) - (counts.repeats ?? 0) : null;
      }
      return null;
    };
    const phase = async (name: PhaseResult['phase'], run: (t: PhaseTracker) => Promise<number>): Promise<PhaseResult> => {
      await admin?.sendCommand(['CONFIG', 'RESETSTAT']);
      const monitoring = name === 'monitored' && redis ? await monitor(redis.port) : null;
      const tracker = new PhaseTracker(`${name}-`);
      const cpuNow = async (): Promise<CpuSnapshot> => ({
        servers: servers.reduce<number | null>((sum, sv) => {
          const us = processCpuMicros(sv.child.pid);
          return sum === null || us === null ? null : sum + us;
        }, 0),
        processor: processor ? processCpuMicros(processor.child.pid) : null,
        redis: admin ? await redisCpuMicros(admin) : null,
        loadGenerator: process.cpuUsage().user + process.cpuUsage().system,
        machine: machineBusyMicros(),
        at: performance.now(),
      });
      const cpuBefore = await cpuNow();
      current = tracker;
      const seconds = await run(tracker);
      accepted += tracker.acked;
      const backlogAtEnd = await backlog();
      let drainMs: number | null = null;
      if (backlogAtEnd !== null) {
        const deadline = Date.now() + 20_000;
        let left = backlogAtEnd;
        while (left > 0 && Date.now() < deadline) {
          await sleep(10);
          left = (await backlog()) ?? 0;
        }
        drainMs = left > 0 ? Number.NaN : Math.max(0, Math.round(performance.now() - tracker.lastAckAt));
      }
      const cpuAfter = await cpuNow();
      const perMessage = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round((b - a) / Math.max(1, tracker.acked)));
      const monitored = monitoring?.stop() ?? null;
      const stats = admin ? parseCommandStats(String(await admin.sendCommand(['INFO', 'commandstats']))) : null;
      current = null;
      return {
        phase: name,
        seconds: Math.round(seconds * 100) / 100,
        sent: tracker.sent,
        acked: tracker.acked,
        failed: tracker.failed,
        delivered: tracker.delivered,
        windowAcked: tracker.windowAcked,
        windowDelivered: tracker.windowDelivered,
        ack: { p50: percentile(tracker.ackMs, 0.5), p99: percentile(tracker.ackMs, 0.99) },
        deliver: { p50: percentile(tracker.deliverMs, 0.5), p99: percentile(tracker.deliverMs, 0.99) },
        backlogAtEnd,
        drainMs,
        redis: stats,
        cpu: {
          servers: perMessage(cpuBefore.servers, cpuAfter.servers),
          processor: perMessage(cpuBefore.processor, cpuAfter.processor),
          redis: perMessage(cpuBefore.redis, cpuAfter.redis),
          loadGenerator: perMessage(cpuBefore.loadGenerator, cpuAfter.loadGenerator)!,
        },
        otherLoad: otherLoad(cpuBefore, cpuAfter),
        monitor: monitored,
      };
    };

    // Warm-up: JIT, statements, connections; not reported.
    await phase('warm', (t) => windowed(pairs, t, Math.max(1, load.window / 2), load.warmSeconds, load.maxMessages));
    const results: PhaseResult[] = [];
    results.push(await phase('paced', async (t) => {
      const t0p = performance.now();
      await paced(pairs[0]!, t, load.pacedCount, load.pacedRate);
      return (performance.now() - t0p) / 1000;
    }));
    results.push(await phase('windowed', (t) => windowed(pairs, t, load.window, load.seconds, load.maxMessages)));
    if (redis) {
      results.push(await phase('monitored', async (t) => {
        const t0p = performance.now();
        await paced(pairs[0]!, t, load.monitoredCount, load.pacedRate);
        return (performance.now() - t0p) / 1000;
      }));
    }

    if (c.backlog === 'inline') processorCounts = await inlineCounts(urlA);
    for (const cl of clients) cl.close();
    clients.length = 0;
    // SIGTERM: the processor logs its counts as it stops.
    await processor?.stop(5000);
    const problems = { count: 0, first: [] as string[] };
    for (const p of [...servers, ...(processor ? [processor] : [])]) {
      problems.count += p.problems.count;
      problems.first.push(...p.problems.first.slice(0, 3 - problems.first.length));
    }
    return { key: c.key, name: c.name, startupMs, phases: results, processor: processorCounts, problems };
  } finally {
    for (const cl of clients) cl.close();
    await processor?.stop(2000);
    await Promise.all(servers.map((s) => s.stop(PROFILE_DIR ? 5000 : 0)));
    if (admin?.isOpen) await admin.close();
    await redis?.stop();
    dir.dispose();
  }
}

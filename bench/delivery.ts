import { availableParallelism, loadavg } from 'node:os';
import { processorBench, type ProcessorBenchOptions } from './delivery-processor.js';
import { runCase, type CaseResult, type LoadSettings, type PathCase, type PhaseResult } from './delivery-paths.js';

/*
 * The delivery benchmark (npm run bench -- delivery, or run this file directly, `--quick`
 * for the short version):
 *
 * 1. Messages per second and latency of the whole path — send → sequencer → durable log →
 *    inbox → ack, and delivery to the recipient — for the bare Socket.IO relay and each
 *    Switchboard delivery path, at 500 msg/s and with windowed senders.
 * 2. Redis commands per message of the paths that use Redis, by command.
 * 3. How fast a MessageProcessor drains a durable log into each store.
 *
 * Every process and database it starts, it removes. Prints markdown tables and returns the
 * results as JSON-able data.
 */

const CASES: PathCase[] = [
  { key: 'bare', name: 'bare Socket.IO relay', kind: 'bare', env: {}, redis: false, processor: false, servers: 1, backlog: 'none' },
  { key: 'embedded', name: 'Switchboard, embedded (SQLite journal: sequencer and store in one step; SQLite inbox)', kind: 'switchboard', env: {}, redis: false, processor: false, servers: 1, backlog: 'none' },
  { key: 'embedded-memory', name: 'Switchboard, STORE=memory (memory log, sequencer, inbox, store; inline processor)', kind: 'switchboard', env: { SWITCHBOARD_STORE: 'memory' }, redis: false, processor: false, servers: 1, backlog: 'inline' },
  { key: 'redis-log', name: 'Switchboard, LOG=redis + `switchboard processor` (Redis sequencer, inbox; SQLite store)', kind: 'switchboard', env: { SWITCHBOARD_LOG: 'redis' }, redis: true, processor: true, servers: 1, backlog: 'redis-log' },
  { key: 'redis-log-2', name: 'Switchboard ×2, LOG=redis + `switchboard processor`, recipient on the other server', kind: 'switchboard', env: { SWITCHBOARD_LOG: 'redis' }, redis: true, processor: true, servers: 2, backlog: 'redis-log' },
  { key: 'embedded-redis', name: 'Switchboard, embedded log + REDIS_URL (cluster mode: SQLite journal, Redis inbox, registry)', kind: 'switchboard', env: {}, redis: true, processor: false, servers: 1, backlog: 'none' },
];
const QUICK_CASES = new Set(['bare', 'embedded', 'redis-log']);

const FULL: LoadSettings = { pairs: 10, window: 4, seconds: 4, maxMessages: 150_000, pacedCount: 1000, pacedRate: 500, warmSeconds: 0.7, monitoredCount: 300 };
const QUICK: LoadSettings = { pairs: 4, window: 4, seconds: 1, maxMessages: 30_000, pacedCount: 250, pacedRate: 500, warmSeconds: 0.3, monitoredCount: 100 };

type Row = Record<string, string | number>;

function table(title: string, rows: Row[], footer?: string): void {
  const cols = Object.keys(rows[0] ?? {});
  const cell = (v: string | number | undefined) => String(v ?? '').replace(/\|/g, '\\|');
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(' | ')} |`;
  console.log(`\n### ${title}\n`);
  console.log(line(cols));
  console.log(line(width.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
  if (footer) console.log(`\n${footer}`);
}

const fmt = (x: number | null) => (x === null ? '—' : Number.isNaN(x) ? 'n/a' : x);
const phaseOf = (r: CaseResult, p: PhaseResult['phase']) => r.phases.find((x) => x.phase === p)!;

function latencyRows(results: CaseResult[]): Row[] {
  return results.map((r) => {
    const p = phaseOf(r, 'paced');
    return {
      path: r.name,
      sent: p.sent,
      acked: p.acked,
      delivered: p.delivered,
      'ack p50 ms': fmt(p.ack.p50),
      'ack p99 ms': fmt(p.ack.p99),
      'deliver p50 ms': fmt(p.deliver.p50),
      'deliver p99 ms': fmt(p.deliver.p99),
      'not stored at last ack': fmt(p.backlogAtEnd),
      'stored after ms': fmt(p.drainMs),
      'server CPU µs/msg': fmt(p.cpu.servers),
      'processor CPU µs/msg': fmt(p.cpu.processor),
      'redis CPU µs/msg': fmt(p.cpu.redis),
      'other load %': fmt(p.otherLoad),
    };
  });
}

function throughputRows(results: CaseResult[]): Row[] {
  return results.map((r) => {
    const p = phaseOf(r, 'windowed');
    return {
      path: r.name,
      'acked msg/s': Math.round(p.windowAcked / p.seconds),
      'delivered msg/s': Math.round(p.windowDelivered / p.seconds),
      'ack p50 ms': fmt(p.ack.p50),
      'ack p99 ms': fmt(p.ack.p99),
      'deliver p50 ms': fmt(p.deliver.p50),
      'deliver p99 ms': fmt(p.deliver.p99),
      failed: p.failed,
      undelivered: p.acked - p.delivered,
      'not stored at last ack': fmt(p.backlogAtEnd),
      'stored after ms': fmt(p.drainMs),
      'server CPU µs/msg': fmt(p.cpu.servers),
      'processor CPU µs/msg': fmt(p.cpu.processor),
      'redis CPU µs/msg': fmt(p.cpu.redis),
      'load generator CPU µs/msg': p.cpu.loadGenerator,
      'other load %': fmt(p.otherLoad),
    };
  });
}

function processRows(results: CaseResult[]): Row[] {
  return results.map((r) => {
    const pc = r.processor;
    return {
      path: r.name,
      'startup ms': r.startupMs,
      'processor batches': pc ? pc.batches ?? 0 : '—',
      'msgs/batch': pc && pc.batches ? Math.round(((pc.stored ?? 0) + (pc.repeats ?? 0)) / pc.batches) : '—',
      'processor stored': pc ? pc.stored ?? 0 : '—',
      'warn/error lines': r.problems.count,
      'first warning': r.problems.first[0]?.slice(0, 120) ?? '',
    };
  });
}

/** Per acknowledged message, one column per (path, phase), one row per command: calls, or Redis CPU µs with `usec`. */
function redisRows(results: CaseResult[], usec = false): Row[] {
  const columns: { label: string; p: PhaseResult }[] = [];
  for (const r of results) {
    for (const p of r.phases) if (p.redis && (p.phase === 'paced' || p.phase === 'windowed')) columns.push({ label: `${r.key} ${p.phase === 'paced' ? '@500/s' : 'windowed'}`, p });
  }
  if (columns.length === 0) return [];
  const commands = new Set<string>();
  for (const { p } of columns) for (const [name, s] of p.redis!) if (s.calls / Math.max(1, p.acked) >= 0.005) commands.add(name);
  const key = usec ? 'usec' : 'calls';
  const perMessage = (p: PhaseResult, n: number) => (n / Math.max(1, p.acked)).toFixed(usec ? 1 : 2);
  const of = (p: PhaseResult, name: string) => p.redis!.get(name)?.[key] ?? 0;
  const rows: Row[] = [...commands]
    .map((name) => ({ name, weight: Math.max(...columns.map(({ p }) => of(p, name) / Math.max(1, p.acked))) }))
    .sort((a, b) => b.weight - a.weight)
    .map(({ name }) => ({ command: name, ...Object.fromEntries(columns.map(({ label, p }) => [label, perMessage(p, of(p, name))])) }));
  const sum = (p: PhaseResult) => [...p.redis!.values()].reduce((a, s) => a + s[key], 0);
  // A script's usec already includes its inner calls, so a sum of usec would count them twice: show Redis's process CPU instead.
  if (usec) rows.push({ command: '**Redis process CPU µs/msg**', ...Object.fromEntries(columns.map(({ label, p }) => [label, fmt(p.cpu.redis)])) });
  else rows.push({ command: '**all calls (incl. inside scripts)**', ...Object.fromEntries(columns.map(({ label, p }) => [label, perMessage(p, sum(p))])) });
  rows.push({ command: 'messages acked in phase', ...Object.fromEntries(columns.map(({ label, p }) => [label, p.acked])) });
  return rows;
}

/** From the MONITOR phase: per message, round trips (commands clients sent) and calls inside scripts, per command. */
function roundTripRows(results: CaseResult[]): Row[] {
  const columns = results.flatMap((r) => r.phases.filter((p) => p.monitor).map((p) => ({ key: r.key, p })));
  if (columns.length === 0) return [];
  const names = new Set(columns.flatMap(({ p }) => [...p.monitor!.keys()]));
  const per = (p: PhaseResult, n: number) => (n / Math.max(1, p.acked)).toFixed(2);
  const weight = (name: string) => Math.max(...columns.map(({ p }) => { const c = p.monitor!.get(name); return c ? (c.client + c.script) / Math.max(1, p.acked) : 0; }));
  const rows: Row[] = [...names]
    .filter((name) => weight(name) >= 0.005)
    .sort((a, b) => weight(b) - weight(a))
    .map((name) => ({
      command: name,
      ...Object.fromEntries(columns.flatMap(({ key, p }) => {
        const c = p.monitor!.get(name) ?? { client: 0, script: 0 };
        return [[`${key}: sent`, per(p, c.client)], [`${key}: in scripts`, per(p, c.script)]];
      })),
    }));
  const total = (p: PhaseResult, k: 'client' | 'script') => [...p.monitor!.values()].reduce((a, c) => a + c[k], 0);
  rows.push({ command: '**total**', ...Object.fromEntries(columns.flatMap(({ key, p }) => [[`${key}: sent`, per(p, total(p, 'client'))], [`${key}: in scripts`, per(p, total(p, 'script'))]])) });
  rows.push({ command: 'messages', ...Object.fromEntries(columns.flatMap(({ key, p }) => [[`${key}: sent`, p.acked], [`${key}: in scripts`, '']])) });
  return rows;
}

function processorRuns(quick: boolean): ProcessorBenchOptions {
  const logs = ['embedded (SQLite)', 'redis (Streams)'] as const;
  const stores = ['memory', 'sqlite', 'postgres', 'mongodb'] as const;
  return {
    messages: quick ? 2000 : 20_000,
    conversations: 100,
    runs: [...logs.flatMap((log) => stores.map((store) => ({ log, store }))), { log: 'memory (reference)', store: 'memory' }],
  };
}

const serialisable = (r: CaseResult) => ({
  ...r,
  phases: r.phases.map((p) => ({ ...p, redis: p.redis && Object.fromEntries(p.redis), monitor: p.monitor && Object.fromEntries(p.monitor) })),
});

export async function deliveryBench(options: { quick?: boolean } = {}): Promise<Record<string, unknown>> {
  const quick = options.quick ?? false;
  const load = quick ? QUICK : FULL;
  const started = Date.now();
  // Other work on the machine skews every number here: say how busy it was.
  const loadBefore = loadavg()[0]!;
  // DELIVERY_BENCH_CASES=embedded,redis-log runs only those paths (e.g. to profile them).
  const only = process.env.DELIVERY_BENCH_CASES?.split(',').map((k) => k.trim());
  const cases = CASES.filter((c) => (only ? only.includes(c.key) : !quick || QUICK_CASES.has(c.key)));
  const results: CaseResult[] = [];
  for (const c of cases) results.push(await runCase(c, load));

  table(`Delivery path at ${load.pacedRate} msg/s: one sender → one recipient, ${load.pacedCount} messages`, latencyRows(results),
    'ack: send → acknowledgement (sequencer, durable log, inbox, live emit done); deliver: send → `message:new` at the recipient, both timed in the load generator. ' +
    '"not stored at last ack": acknowledged messages the processor had not written to the store yet when the last ack came; "stored after": when the store had them all. ' +
    'For comparison, the README\'s figures of the previous release (message:send wrote straight to the SQLite store; 2000 messages at 500/s, send → receive): ' +
    'bare relay 0.21 / 1.87 ms, Switchboard embedded 0.47 / 4.15 ms (p50 / p99).');
  table(`Windowed senders: ${load.pairs} direct conversations, both sides sending, ${load.window} in flight per sender, ${load.seconds} s`, throughputRows(results),
    `${load.pairs * 2 * load.window} messages in flight. Rates count acks and arrivals inside the ${load.seconds} s; latencies every message of the phase; CPU per acknowledged message (server CPU: all servers of the path; redis: INFO used_cpu). ${availableParallelism()} cores shared by the load generator, Redis, the server(s) and the processor. ` +
    '"other load": CPU used meanwhile by processes not of this benchmark, in % of one core (tens of % mean the row was disturbed).');
  table('Processes', processRows(results));
  const redis = redisRows(results);
  if (redis.length > 0) {
    table('Redis commands per acknowledged message (INFO commandstats between CONFIG RESETSTATs; includes the external processor and heartbeats, not the benchmark\'s own polling)', redis,
      '`eval` is a script sent in full with EVAL; a script\'s inner calls (HINCRBY, XADD, ZADD…) are counted under their own names as well.');
    table('Redis CPU µs per acknowledged message, by command (commandstats usec; a script\'s time includes its inner calls)', redisRows(results, true));
    table(`Redis round trips per message: commands sent by the servers and the processor vs. calls inside scripts (MONITOR, a separate phase of ${load.monitoredCount} messages at ${load.pacedRate}/s)`, roundTripRows(results));
  }

  const processorOptions = processorRuns(quick);
  const processor = await processorBench(processorOptions);
  table(`Processor drain: ${processorOptions.messages} messages in ${processorOptions.conversations} conversations, already in the durable log, into each store (batches of 500)`, processor,
    'Each log is paired with its production sequencer (SQLite for the embedded log, Redis for the Redis log), whose `stored` the processor calls per batch. ' +
    'PostgreSQL: a fresh database on 127.0.0.1:5432, dropped afterwards.');

  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const loadAverage = { before: Math.round(loadBefore * 100) / 100, after: Math.round(loadavg()[0]! * 100) / 100 };
  // Measured per phase: CPU that other processes took while it ran.
  const disturbed = results.filter((r) => r.phases.some((p) => p.phase !== 'warm' && (p.otherLoad ?? 0) > 20)).map((r) => r.key);
  console.log(`\ndelivery benchmark: ${seconds} s${quick ? ' (quick)' : ''}; 1-minute load average ${loadAverage.before} before, ${loadAverage.after} after` +
    (disturbed.length > 0 ? `; other processes took over 20 % of a core during: ${disturbed.join(', ')} — those rows are disturbed` : '; no other load of note during the paths'));
  return { quick, seconds, loadAverage, load, paths: results.map(serialisable), processor };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  deliveryBench({ quick: process.argv.includes('--quick') }).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS, machine, markdownTable, Report, SMOKE, type BenchOptions } from './common.js';
import { connectStorm } from './scenarios/connect.js';
import { crossServer } from './scenarios/cross.js';
import { fanout } from './scenarios/fanout.js';
import { hundredK } from './scenarios/hundred-k.js';
import { latency, redisCost, throughput } from './scenarios/legacy.js';
import { pointToPoint } from './scenarios/p2p.js';
import { reconnectStorm } from './scenarios/reconnect.js';

const USAGE = `npm run bench [-- <scenario>… ] [options]

Scenarios (all but 100k without one):
  connect     connect storm: connects/s, server CPU and memory per idle connection
  fanout      room fan-out: flood ceiling, then p50/p99 at 25/50/75 % of it
  p2p         point-to-point chat, full path: highest rate holding p99 < 100 ms
  cross       two servers over Redis: same-server vs cross-server hop latency
  reconnect   kill -9 a server holding the clients, restart it, time the way back
  latency     the same as cross (earlier name; not run twice by default)
  redis       Redis commands per message
  throughput  20 conversations flooding, bare relay vs Switchboard + Redis on 1 and 2 processes
  delivery    bench/delivery.ts when present
  100k        100 000 idle authenticated connections on switchboard server --workers N (not in the default run)
  smoke       every default scenario but delivery, with a few clients for about a second each,
              side by side (CI: checks that they run, not how fast)

Options:
  --connections N     clients of the connect and reconnect storms (${DEFAULTS.connections})
  --members N         fan-out room size (${DEFAULTS.members})
  --pairs N           point-to-point conversations (${DEFAULTS.pairs})
  --hold S            seconds a point-to-point rate must hold p99 < 100 ms (${DEFAULTS.hold})
  --history S         point-to-point: flood S seconds first, so the store holds history (${DEFAULTS.history})
  --seconds S         length of each flood/paced phase (${DEFAULTS.seconds})
  --generators N      load generator processes (${DEFAULTS.generators})
  --clients N         connections of the 100k scenario (${DEFAULTS.hundredK})
  --workers N         worker processes of the 100k scenario (${DEFAULTS.workers})
  --backoff-base MS, --backoff-cap MS   full-jitter reconnect backoff (${DEFAULTS.backoffBaseMs}, ${DEFAULTS.backoffCapMs})
  --message-bytes N   chat message content size (${DEFAULTS.messageBytes})
  --targets LIST      only these of switchboard,sio,raw
  --cpu-prof          profile the Switchboard processes (node --cpu-prof) and print the top self time
  --smoke             tiny scale for the chosen scenarios
  --out FILE          where to write the JSON (default bench/results/<scenarios>-<time>.json)`;

type Scenario = (o: BenchOptions, report: Report) => Promise<void>;

/*
 * The one place where bench/delivery.ts plugs in: when the file exists, `delivery` runs its
 * `deliveryBench()` and its result goes into the JSON under `delivery`. The specifier is
 * built at run time so that type-checking does not need the file.
 */
const DELIVERY_FILE = new URL('./delivery.ts', import.meta.url);
const delivery: Scenario = async (o, report) => {
  if (!existsSync(DELIVERY_FILE)) {
    console.log('\n(delivery: bench/delivery.ts is not there yet; skipped)');
    report.set('delivery', 'skipped', 'bench/delivery.ts is not there yet');
    return;
  }
  const mod = (await import(DELIVERY_FILE.href)) as { deliveryBench?: (options?: { quick?: boolean }) => Promise<Record<string, unknown>> };
  if (typeof mod.deliveryBench !== 'function') throw new Error('bench/delivery.ts does not export deliveryBench()');
  // With --smoke, its short version.
  const result = await mod.deliveryBench(o.smoke ? { quick: true } : undefined);
  for (const [k, v] of Object.entries(result)) report.set('delivery', k, v);
};

const SCENARIOS: Record<string, Scenario> = {
  connect: connectStorm,
  fanout,
  p2p: pointToPoint,
  cross: crossServer,
  reconnect: reconnectStorm,
  latency,
  redis: redisCost,
  throughput,
  delivery,
  '100k': hundredK,
};
/** What `npm run bench` runs without a scenario, and `smoke` at a tiny scale. */
const DEFAULT_RUN = ['connect', 'fanout', 'p2p', 'cross', 'reconnect', 'redis', 'throughput', 'delivery'];
/**
 * The smoke run: every default scenario but `delivery`, whose short version alone takes
 * longer than the whole smoke run may (`npm run bench -- delivery --smoke` runs it).
 */
const SMOKE_RUN = DEFAULT_RUN.filter((s) => s !== 'delivery');

function options(): { o: BenchOptions; wanted: string[]; out: string | undefined } {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      connections: { type: 'string' },
      members: { type: 'string' },
      pairs: { type: 'string' },
      hold: { type: 'string' },
      history: { type: 'string' },
      seconds: { type: 'string' },
      generators: { type: 'string' },
      clients: { type: 'string' },
      workers: { type: 'string' },
      'backoff-base': { type: 'string' },
      'backoff-cap': { type: 'string' },
      'message-bytes': { type: 'string' },
      targets: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      smoke: { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const smoke = values.smoke === true || positionals.includes('smoke');
  const o: BenchOptions = { ...DEFAULTS, ...(smoke ? SMOKE : {}) };
  const num = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) {
      console.error(`--${name} must be a number ≥ ${min}, got '${v}'`);
      process.exit(2);
    }
    return n;
  };
  const set = <K extends keyof BenchOptions>(k: K, v: BenchOptions[K] | undefined) => {
    if (v !== undefined) o[k] = v;
  };
  set('connections', num('connections', values.connections, 2));
  set('members', num('members', values.members, 2));
  set('pairs', num('pairs', values.pairs, 1));
  set('hold', num('hold', values.hold, 0.5));
  set('history', num('history', values.history, 0));
  set('seconds', num('seconds', values.seconds, 0.5));
  set('generators', num('generators', values.generators, 1));
  set('hundredK', num('clients', values.clients, 2));
  set('workers', num('workers', values.workers, 1));
  set('backoffBaseMs', num('backoff-base', values['backoff-base'], 1));
  set('backoffCapMs', num('backoff-cap', values['backoff-cap'], 1));
  set('messageBytes', num('message-bytes', values['message-bytes'], 32));
  if (values['cpu-prof']) o.cpuProf = true;
  if (values.targets) {
    o.targets = values.targets.split(',').map((t) => t.trim());
    const bad = o.targets.filter((t) => !['switchboard', 'sio', 'raw'].includes(t));
    if (bad.length) {
      console.error(`unknown target(s) ${bad.join(', ')}; use switchboard, sio, raw`);
      process.exit(2);
    }
  }
  const names = positionals.filter((p) => p !== 'smoke');
  const wanted = names.length > 0 ? names : smoke ? SMOKE_RUN : DEFAULT_RUN;
  const unknown = wanted.filter((w) => !SCENARIOS[w]);
  if (unknown.length) {
    console.error(`unknown scenario(s) ${unknown.join(', ')}\n\n${USAGE}`);
    process.exit(2);
  }
  return { o, wanted, out: values.out };
}

const { o, wanted, out } = options();
const report = new Report();
const started = new Date();
const host = machine();
console.log(`Switchboard bench: ${wanted.join(', ')}${o.smoke ? ' (smoke scale)' : ''} on ${host.cpu}, ${host.cores} cores, ${host.memoryGb} GB, Node ${host.node}`);
let failed = false;
const runOne = async (name: string): Promise<void> => {
  const t0 = Date.now();
  try {
    await SCENARIOS[name]!(o, report);
    report.set(name, 'seconds', Math.round((Date.now() - t0) / 100) / 10);
  } catch (err) {
    failed = true;
    console.error(`\nscenario ${name} failed: ${err instanceof Error ? err.stack : String(err)}`);
    report.set(name, 'error', err instanceof Error ? err.message : String(err));
  }
};
if (o.smoke) {
  // Smoke checks that everything runs, not how fast: the scenarios run side by side.
  await Promise.all(wanted.map(runOne));
} else {
  for (const name of wanted) await runOne(name);
}
// Every budget check of the run in one place.
const budget = wanted.flatMap((name) => {
  const rows = (report.data[name] as { budget?: Record<string, string | number | null>[] } | undefined)?.budget ?? [];
  return rows.filter((r) => /PASS|FAIL/.test(String(r.ratio))).map((r) => ({ scenario: name, check: r.check ?? '', 'value (budget, verdict)': r.ratio ?? '' }));
});
if (budget.length > 0) {
  console.log(`\n${markdownTable('Budget summary', budget)}`);
  report.set('summary', 'budget', budget);
}
const file = out ?? new URL(`results/${o.smoke ? 'smoke' : wanted.join('-')}-${started.toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url).pathname;
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify({ startedAt: started.toISOString(), machine: host, options: o, scenarios: wanted, results: report.data }, null, 2));
console.log(`\nresults: ${file}`);
process.exit(failed ? 1 : 0);

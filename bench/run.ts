import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createClient } from 'redis';
import { startRedis, type TestRedis } from '../test/helpers/redis-server.js';
import { bareClient, directConversation, groupConversation, percentiles, Stopwatch, switchboardClient, type BenchClient } from './clients.js';
import { startBareRelay, startSwitchboards, type Running } from './processes.js';

/*
 * npm run bench [latency|redis|throughput]   (all three without an argument)
 *
 * Every server runs in its own process; this process is the load generator. Everything is
 * on 127.0.0.1 and cleans up after itself.
 */

const results: Record<string, unknown> = {};

function table(title: string, rows: Record<string, string | number>[], footer?: string): void {
  const cols = Object.keys(rows[0] ?? {});
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(' | ')} |`;
  console.log(`\n${title}\n`);
  console.log(line(cols));
  console.log(line(width.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c]))));
  if (footer) console.log(`\n${footer}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `count` messages from `from` to `to` at `rate` per second and times their arrival. */
async function paced(from: BenchClient, to: BenchClient, conversationId: string, count: number, rate: number, prefix: string): Promise<number[]> {
  const watch = new Stopwatch();
  let received = 0;
  const all = new Promise<void>((resolve) => {
    to.onMessage((id) => {
      if (!id.startsWith(prefix)) return;
      watch.stop(id);
      if (++received === count) resolve();
    });
  });
  const start = Date.now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    if (due > Date.now()) await sleep(due - Date.now());
    const id = `${prefix}${i}`;
    watch.start(id);
    void from.send(to.user, conversationId, id);
  }
  await Promise.race([all, sleep(30_000)]);
  return watch.samples;
}

interface LatencyCase { name: string; setup(): Promise<{ running: Running[]; a: BenchClient; b: BenchClient; conversationId: string }> }

async function latency(): Promise<void> {
  const COUNT = 2000;
  const RATE = 500;
  let redis: TestRedis | undefined;
  const cases: LatencyCase[] = [
    {
      name: 'bare Socket.IO relay',
      async setup() {
        const relay = await startBareRelay();
        return { running: [relay], a: await bareClient(relay.urls[0]!, 'a'), b: await bareClient(relay.urls[0]!, 'b'), conversationId: '' };
      },
    },
    {
      name: 'Switchboard, embedded (1 process)',
      async setup() {
        const sb = await startSwitchboards(1);
        const conversationId = await directConversation(sb.urls[0]!, 'a', 'b');
        return { running: [sb], a: await switchboardClient(sb.urls[0]!, 'a'), b: await switchboardClient(sb.urls[0]!, 'b'), conversationId };
      },
    },
    {
      name: 'Switchboard + Redis, same server',
      async setup() {
        redis = await startRedis();
        const sb = await startSwitchboards(2, redis.url);
        const conversationId = await directConversation(sb.urls[0]!, 'a', 'b');
        return { running: [sb], a: await switchboardClient(sb.urls[0]!, 'a'), b: await switchboardClient(sb.urls[0]!, 'b'), conversationId };
      },
    },
    {
      name: 'Switchboard + Redis, cross-server hop',
      async setup() {
        redis = await startRedis();
        const sb = await startSwitchboards(2, redis.url);
        const conversationId = await directConversation(sb.urls[0]!, 'a', 'b');
        return { running: [sb], a: await switchboardClient(sb.urls[0]!, 'a'), b: await switchboardClient(sb.urls[1]!, 'b'), conversationId };
      },
    },
  ];
  const rows: Record<string, string | number>[] = [];
  for (const c of cases) {
    const { running, a, b, conversationId } = await c.setup();
    await paced(a, b, conversationId, 200, RATE, 'warm-');
    const samples = await paced(a, b, conversationId, COUNT, RATE, 'm-');
    rows.push({ path: c.name, delivered: `${samples.length}/${COUNT}`, ...percentiles(samples) });
    a.close();
    b.close();
    for (const r of running) await r.stop();
    await redis?.stop();
    redis = undefined;
  }
  results.latency = rows;
  table(`Delivery latency in ms, one sender to one recipient, ${COUNT} messages at ${RATE}/s (after 200 to warm up)`, rows,
    'The sender stamps each message when it sends it and the recipient, in the same process, when it arrives: send → ack path → emit → receive.');
}

async function redisCost(): Promise<void> {
  const redis = await startRedis();
  const sb = await startSwitchboards(2, redis.url);
  const rows: Record<string, string | number>[] = [];
  const admin = createClient({ url: redis.url });
  await admin.connect();
  for (const [label, members] of [['direct, recipient on the other server', 1], ['group of 3, recipients on both servers', 2], ['group of 10, recipients on both servers', 9]] as const) {
    const users = Array.from({ length: members + 1 }, (_, i) => `r${members}-${i}`);
    const clients = await Promise.all(users.map((u, i) => switchboardClient(sb.urls[i % 2]!, u)));
    const owner = clients[0]!;
    const conversationId = members === 1 ? await directConversation(sb.urls[0]!, users[0]!, users[1]!) : await groupConversation(sb.urls[0]!, users[0]!, users.slice(1));
    const N = 500;
    let delivered = 0;
    const done = new Promise<void>((resolve) => {
      for (const c of clients.slice(1)) c.onMessage(() => ++delivered === N * members && resolve());
    });
    await admin.sendCommand(['CONFIG', 'RESETSTAT']);
    for (let i = 0; i < N; i++) await owner.send('', conversationId, `m${members}-${i}`);
    await Promise.race([done, sleep(20_000)]);
    const stats = parseCommandStats(String(await admin.sendCommand(['INFO', 'commandstats'])));
    const total = [...stats.values()].reduce((a, b) => a + b, 0) - (stats.get('config|resetstat') ?? 0) - (stats.get('info') ?? 0);
    const top = [...stats].filter(([k]) => k !== 'info' && k !== 'config|resetstat').sort((x, y) => y[1] - x[1]).slice(0, 4).map(([k, v]) => `${k} ${(v / N).toFixed(2)}`).join(', ');
    rows.push({ conversation: label, messages: N, deliveries: delivered, 'commands/message': (total / N).toFixed(2), 'commands/delivery': (total / Math.max(1, delivered)).toFixed(2), 'top commands per message': top });
    for (const c of clients) c.close();
  }
  await admin.close();
  await sb.stop();
  await redis.stop();
  results.redis = rows;
  table('Redis commands per message (2 servers, sender on server A; includes the servers\' heartbeats during the run)', rows);
}

function parseCommandStats(info: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

async function throughput(): Promise<void> {
  const PAIRS = 20;
  const WINDOW = 8;
  const SECONDS = 8;
  const rows: Record<string, string | number>[] = [];
  // 0 servers: the bare Socket.IO relay doing the same work, as the baseline.
  for (const servers of [0, 1, 2]) {
    const redis = servers > 0 ? await startRedis() : undefined;
    const sb = servers > 0 ? await startSwitchboards(servers, redis!.url) : await startBareRelay();
    const pairs: { a: BenchClient; b: BenchClient; conversationId: string }[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const ua = `t${servers}-${i}-a`;
      const ub = `t${servers}-${i}-b`;
      if (servers === 0) {
        pairs.push({ a: await bareClient(sb.urls[0]!, ua), b: await bareClient(sb.urls[0]!, ub), conversationId: '' });
        continue;
      }
      const conversationId = await directConversation(sb.urls[0]!, ua, ub);
      // With two servers, half the pairs talk across servers.
      const a = await switchboardClient(sb.urls[i % servers]!, ua);
      const b = await switchboardClient(sb.urls[(i + (i < PAIRS / 2 ? 0 : 1)) % servers]!, ub);
      pairs.push({ a, b, conversationId });
    }
    const watch = new Stopwatch();
    let sent = 0;
    let failed = 0;
    let delivered = 0;
    let running = true;
    for (const { a, b } of pairs) {
      for (const c of [a, b]) c.onMessage((id) => {
        watch.stop(id);
        delivered += 1;
      });
    }
    const pump = async (from: BenchClient, to: BenchClient, conversationId: string, lane: string) => {
      let n = 0;
      while (running) {
        const id = `${lane}-${n++}`;
        watch.start(id);
        if (await from.send(to.user, conversationId, id)) sent += 1;
        else failed += 1;
      }
    };
    const started = Date.now();
    const lanes = pairs.flatMap(({ a, b, conversationId }, i) => Array.from({ length: WINDOW / 2 }, (_, w) => [pump(a, b, conversationId, `${i}a${w}`), pump(b, a, conversationId, `${i}b${w}`)]).flat());
    await sleep(SECONDS * 1000);
    running = false;
    await Promise.all(lanes);
    const elapsed = (Date.now() - started) / 1000;
    const p = percentiles(watch.samples);
    rows.push({ server: servers === 0 ? 'bare Socket.IO relay' : `Switchboard + Redis, ${servers} process${servers > 1 ? 'es' : ''}`, connections: PAIRS * 2, 'sent/s': Math.round(sent / elapsed), 'delivered/s': Math.round(delivered / elapsed), 'p50 ms': p.p50, 'p99 ms': p.p99, errors: failed });
    for (const { a, b } of pairs) {
      a.close();
      b.close();
    }
    await sb.stop();
    await redis?.stop();
  }
  results.throughput = rows;
  table(`Throughput: ${PAIRS} direct conversations, both sides sending, ${WINDOW} messages in flight per conversation, ${SECONDS} s`, rows,
    `This machine has ${availableParallelism()} cores shared by the load generator, Redis and the servers; with 2 servers, half the conversations cross servers.`);
}

const scenarios: Record<string, () => Promise<void>> = { latency, redis: redisCost, throughput };
const wanted = process.argv[2] ? [process.argv[2]] : Object.keys(scenarios);
for (const name of wanted) {
  const run = scenarios[name];
  if (!run) {
    console.error(`unknown scenario '${name}'; use one of ${Object.keys(scenarios).join(', ')}`);
    process.exit(2);
  }
  await run();
}
mkdirSync(new URL('results/', import.meta.url), { recursive: true });
const file = new URL(`results/${wanted.join('-')}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url);
writeFileSync(file, JSON.stringify(results, null, 2));
console.log(`\nresults: ${file.pathname}`);
process.exit(0);

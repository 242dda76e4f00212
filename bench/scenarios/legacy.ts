import { createClient } from 'redis';
import { startRedis, type TestRedis } from '../../test/helpers/redis-server.js';
import { directConversation, groupConversation, switchboardClient } from '../clients.js';
import { round, sleep, withServer, type BenchOptions, type Report, type Row } from '../common.js';
import { GeneratorPool } from '../generators.js';
import { SECRET, startBareRelay, startSwitchboards } from '../processes.js';
import { crossServer } from './cross.js';
import { floodRun, pairSends, SMOKE_CAPS } from './traffic.js';

/*
 * The scenarios of earlier versions: `latency` is now part of `cross`; `redis` counts Redis
 * commands per message with the official client; `throughput` floods conversations on the
 * generator processes.
 */

/** Delivery latency at 500 msg/s: the `cross` scenario, which holds the same cases. */
export const latency = (o: BenchOptions, report: Report): Promise<void> => crossServer(o, report, 'latency');

function parseCommandStats(info: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/** Redis commands per message on two servers, by conversation size (sender on server A). */
export async function redisCost(o: BenchOptions, report: Report): Promise<void> {
  const scenario = 'redis';
  const N = o.smoke ? 20 : 500;
  const redis = await startRedis();
  const admin = createClient({ url: redis.url });
  const rows: Row[] = [];
  try {
    await withServer(() => startSwitchboards(2, redis.url), async (sb) => {
      await admin.connect();
      for (const [label, members] of [['direct, recipient on the other server', 1], ['group of 3, recipients on both servers', 2], ['group of 10, recipients on both servers', 9]] as const) {
        const users = Array.from({ length: members + 1 }, (_, i) => `r${members}-${i}`);
        const clients = await Promise.all(users.map((u, i) => switchboardClient(sb.urls[i % 2]!, u)));
        const owner = clients[0]!;
        const conversationId = members === 1 ? await directConversation(sb.urls[0]!, users[0]!, users[1]!) : await groupConversation(sb.urls[0]!, users[0]!, users.slice(1));
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
    });
  } finally {
    if (admin.isOpen) await admin.close();
    await redis.stop();
  }
  report.set(scenario, 'rows', rows);
  report.table(scenario, 'Redis commands per message (2 servers, sender on server A; includes the servers\' heartbeats during the run)', rows);
}

/** 20 conversations, both sides flooding with 4 unacknowledged each: bare relay, Switchboard + Redis on 1 and 2 processes. */
export async function throughput(o: BenchOptions, report: Report): Promise<void> {
  const scenario = 'throughput';
  const PAIRS = o.smoke ? 3 : 20;
  const pool = await GeneratorPool.start(Math.min(o.generators, 2));
  const rows: Row[] = [];
  try {
    // The smoke run only checks that it works: one process less.
    for (const servers of o.smoke ? [0, 2] : [0, 1, 2]) {
      if (o.targets.length && !o.targets.includes(servers === 0 ? 'sio' : 'switchboard')) continue;
      let redis: TestRedis | undefined;
      try {
        if (servers > 0) redis = await startRedis();
        await withServer(() => (servers === 0 ? startBareRelay() : startSwitchboards(servers, redis!.url)), async (server) => {
          const dialect = servers === 0 ? 'sio' : 'switchboard';
          const users = Array.from({ length: PAIRS * 2 }, (_, i) => `t${servers}-${i}`);
          // With two servers, the second half of the conversations crosses servers.
          const urlIndex = users.map((_, i) => (servers === 2 && i >= PAIRS && i % 2 === 1 ? 1 : 0));
          await pool.prepare({ dialect, urls: server.urls, clients: users.map((user) => ({ user })), urlIndex, secret: SECRET });
          await pool.open({ concurrency: 50, deadlineMs: 60_000, attempts: 3 });
          const sends = await pairSends(pool, dialect, users, `t${Date.now()}-`);
          const r = await floodRun(pool, sends, { window: 4, durationMs: o.seconds * 1000, contentBytes: o.messageBytes, perMessage: 1, drainMs: o.smoke ? 3000 : 10_000, ...(o.smoke ? SMOKE_CAPS : {}) });
          rows.push({
            server: servers === 0 ? 'bare Socket.IO relay' : `Switchboard + Redis, ${servers} process${servers > 1 ? 'es' : ''}`,
            connections: PAIRS * 2,
            'sent/s': round(r.ackedPerSecond),
            'delivered/s': round(r.deliveredPerSecond),
            'p50 ms': r.latency.p50,
            'p99 ms': r.latency.p99,
            errors: r.failed,
          });
          await pool.closeClients();
        });
      } finally {
        await redis?.stop();
      }
    }
  } finally {
    await pool.stop();
  }
  report.set(scenario, 'rows', rows);
  report.table(scenario, `Throughput: ${PAIRS} direct conversations, both sides sending, 4 unacknowledged per sender, ${o.seconds} s`, rows,
    'With 2 servers, half the conversations cross servers. Generators, Redis and servers share the cores.');
}

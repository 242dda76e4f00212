import { startRedis, type TestRedis } from '../../test/helpers/redis-server.js';
import { round, withServer, type BenchOptions, type Report, type Row, type TargetKey } from '../common.js';
import { GeneratorPool } from '../generators.js';
import { SECRET, startBareRelay, startSwitchboards, type Running } from '../processes.js';
import type { Dialect } from '../wire.js';
import { pacedRun, pairSends, SMOKE_CAPS, type RunResult } from './traffic.js';

interface Case {
  key: TargetKey;
  name: string;
  dialect: Dialect;
  redis: boolean;
  start(redisUrl: string | undefined): Promise<Running>;
}

const RATE = 500;

/**
 * Delivery latency one hop and two: one server process, then two over Redis with both
 * users on the same server and with the users on different servers. Conversations of two
 * users, both sending, 500 messages/s in total (after a warm-up); latency is send →
 * delivery at the recipient. The bare relays use Socket.IO's sharded Redis adapter.
 * (This is also the `latency` scenario of earlier versions.)
 */
export async function crossServer(o: BenchOptions, report: Report, scenario = 'cross'): Promise<void> {
  const want = (k: TargetKey) => o.targets.length === 0 || o.targets.includes(k);
  const cases: Case[] = [
    { key: 'sio' as const, name: 'bare Socket.IO', dialect: 'sio' as const, redis: false, start: () => startBareRelay() },
    { key: 'sio' as const, name: 'bare Socket.IO + Redis', dialect: 'sio' as const, redis: true, start: (url: string | undefined) => startBareRelay({ n: 2, redisUrl: url }) },
    { key: 'switchboard' as const, name: 'Switchboard, embedded', dialect: 'switchboard' as const, redis: false, start: () => startSwitchboards(1) },
    { key: 'switchboard' as const, name: 'Switchboard + Redis', dialect: 'switchboard' as const, redis: true, start: (url: string | undefined) => startSwitchboards(2, url) },
  ].filter((c) => want(c.key) && (!o.smoke || c.redis)); // The smoke run only checks that it works: the two-server cases cover every code path.
  const pool = await GeneratorPool.start(Math.min(o.generators, 2));
  const pairs = Math.max(1, Math.min(o.pairs, 20));
  const durationMs = o.seconds * 1000;
  const rows: Row[] = [];
  const hop: Record<string, { same?: RunResult; cross?: RunResult }> = {};
  try {
    for (const c of cases) {
      let redis: TestRedis | undefined;
      try {
        if (c.redis) redis = await startRedis();
        await withServer(() => c.start(redis?.url), async (server) => {
          const paths = c.redis ? (['same', 'cross'] as const) : (['same'] as const);
          const users = paths.flatMap((p) => Array.from({ length: pairs * 2 }, (_, i) => `x-${p}-${i}`));
          // Same: both users on server 0. Cross: a on server 0, b on server 1.
          const urlIndex = paths.flatMap((p) => Array.from({ length: pairs * 2 }, (_, i) => (p === 'cross' && i % 2 === 1 ? 1 : 0)));
          await pool.prepare({ dialect: c.dialect, urls: server.urls, clients: users.map((user) => ({ user })), urlIndex, secret: SECRET });
          const opened = await pool.open({ concurrency: 50, deadlineMs: 60_000, attempts: 3 });
          if (opened.opened < users.length) throw new Error(`${c.name}: only ${opened.opened}/${users.length} clients connected`);
          for (const [k, path] of paths.entries()) {
            const offset = k * pairs * 2;
            const sends = await pairSends(pool, c.dialect, users.slice(offset, offset + pairs * 2), `x${Date.now()}-${path}-`, offset);
            const base = { contentBytes: o.messageBytes, perMessage: 1, drainMs: o.smoke ? 3000 : 10_000, ...(o.smoke ? SMOKE_CAPS : {}) };
            await pacedRun(pool, sends, { ...base, rate: RATE, durationMs: o.smoke ? 200 : 1000 });
            const r = await pacedRun(pool, sends, { ...base, rate: RATE, durationMs });
            (hop[c.key] ??= {})[path] = r;
            rows.push({
              path: `${c.name}, ${c.redis ? (path === 'same' ? 'same server' : 'cross-server hop') : '1 process'}`,
              delivered: `${r.delivered}/${r.sent}`,
              'p50 ms': r.latency.p50,
              'p90 ms': r.latency.p90,
              'p99 ms': r.latency.p99,
              'max ms': r.latency.max,
              'ack p99 ms': r.ack.p99,
            });
          }
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
  report.table(scenario, `Delivery latency in ms, ${pairs} conversations, ${RATE} msg/s for ${o.seconds} s (after 1 s to warm up)`, rows,
    'Send → delivery at the recipient (a generator process; clocks of one host). The relays route only; Switchboard runs its full path, and across servers publishes one batch to the recipient\'s server.');
  const extra = (k: TargetKey, q: 'p50' | 'p99') => {
    const h = hop[k];
    const cross = h?.cross?.latency[q];
    const same = h?.same?.latency[q];
    return cross === null || cross === undefined || same === null || same === undefined ? null : round(cross - same, 2);
  };
  const hops: Row[] = (['sio', 'switchboard'] as const).filter(want).map((k) => ({
    server: k === 'sio' ? 'bare Socket.IO + Redis' : 'Switchboard + Redis',
    'cross-server p50 ms': hop[k]?.cross?.latency.p50 ?? null,
    'cross-server p99 ms': hop[k]?.cross?.latency.p99 ?? null,
    'hop cost p50 ms': extra(k, 'p50'),
    'hop cost p99 ms': extra(k, 'p99'),
  }));
  report.set(scenario, 'hop', hops);
  report.table(scenario, 'Cross-server hop (cross-server minus same-server, same run)', hops);
}

import { startRedis } from '../../test/helpers/redis-server.js';
import { profileDir, reportProfile, round, rssBytes, sleep, verdict, withServer, type BenchOptions, type MeasuredWindow, type Report, type Row } from '../common.js';
import { GeneratorPool, MAX_CLIENTS_PER_PROCESS } from '../generators.js';
import { SECRET, startSwitchboards, type Running } from '../processes.js';

/** Sockets per generator process here: well under the ~19 000 a process may open. */
const PER_GENERATOR = 15_000;

async function memoryOf(server: Running): Promise<{ total: number; heap: number; probed: number; perProcess: { pid: number; rss: number; heap: number | null }[] }> {
  const probes = new Map((await server.probe()).map((p) => [p.pid, p]));
  const perProcess = server.pids().map((pid) => {
    const p = probes.get(pid);
    return { pid, rss: p?.rss ?? rssBytes([pid]), heap: p ? p.heapUsed + p.external : null };
  });
  return {
    total: perProcess.reduce((a, p) => a + p.rss, 0),
    heap: perProcess.reduce((a, p) => a + (p.heap ?? 0), 0),
    probed: probes.size,
    perProcess,
  };
}

/**
 * 100k on one host: `switchboard server --workers N` over a Redis of its own holds
 * `hundredK` authenticated idle connections (one user each), opened from enough generator
 * processes that each stays under 15 000 sockets, over 249 source addresses. Reports the
 * time to connect them all and the memory of all server processes (primary and workers,
 * after a forced GC) before and after.
 */
export async function hundredK(o: BenchOptions, report: Report): Promise<void> {
  const scenario = '100k';
  const n = o.hundredK;
  const workers = Math.max(o.workers, Math.ceil(n / MAX_CLIENTS_PER_PROCESS));
  const redis = await startRedis();
  const pool = await GeneratorPool.start(Math.max(o.generators, Math.ceil(n / PER_GENERATOR)));
  try {
    const prof = profileDir(o, scenario, 'switchboard');
    let window: MeasuredWindow | undefined;
    const rows = await withServer(() => startSwitchboards(1, { redisUrl: redis.url, workers, cpuProfDir: prof }), async (server) => {
      const clients = Array.from({ length: n }, (_, i) => ({ user: `h${i}` }));
      await pool.prepare({ dialect: 'switchboard', urls: server.urls, clients, secret: SECRET, connectTimeoutMs: 120_000 });
      await sleep(o.smoke ? 500 : 5000);
      const m0 = await memoryOf(server);
      const from = Date.now();
      const storm = await pool.open({ concurrency: o.smoke ? 10 : 50, deadlineMs: o.smoke ? 30_000 : 900_000, attempts: 5 });
      window = { from, to: Date.now(), spawnedAt: server.spawnedAt() };
      await sleep(o.smoke ? 500 : 10_000);
      const m1 = await memoryOf(server);
      const still = (await pool.received(false)).connected;
      await pool.closeClients();
      const c = storm.connectMs.summary();
      const perConn = (m1.total - m0.total) / Math.max(1, storm.opened);
      const row: Row = {
        connections: `${storm.opened}/${n}`,
        'still connected after settle': still,
        'server processes': `1 primary + ${workers} workers`,
        'generator processes': pool.size,
        'time to connect s': round(storm.seconds, 1),
        'connects/s': round(storm.perSecond),
        'connect p50 ms': c.p50,
        'connect p99 ms': c.p99,
        'server RSS before MB': round(m0.total / 2 ** 20),
        'server RSS after MB': round(m1.total / 2 ** 20),
        'RSS KB per connection': round(perConn / 1024, 1),
        'heap KB per connection': m0.probed === m1.probed ? round((m1.heap - m0.heap) / 1024 / Math.max(1, storm.opened), 1) : null,
        errors: Object.entries(storm.errors).map(([k, v]) => `${k}×${v}`).join(' ') || 0,
      };
      report.set(scenario, 'processes', m1.perProcess.map((p) => ({ pid: p.pid, rssMb: round(p.rss / 2 ** 20, 1), heapMb: p.heap === null ? null : round(p.heap / 2 ** 20, 1) })));
      return [row, perConn] as const;
    }, prof ? 30_000 : 0);
    await reportProfile(report, scenario, prof, window);
    report.set(scenario, 'rows', [rows[0]]);
    report.table(scenario, `${n} idle authenticated connections on one host: switchboard server --workers ${workers}, Redis on loopback`, [rows[0]],
      'Memory: RSS of the primary and every worker after a forced GC, all clients connected, minus before. Redis and the generators are not counted.');
    const budget = [{ check: 'memory per idle authenticated connection, --workers (KB RSS)', ratio: verdict(rows[1] / 1024, 16, 'max') }];
    report.set(scenario, 'budget', budget);
    report.table(scenario, '100k: budget', budget);
  } finally {
    await pool.stop();
    await redis.stop();
  }
}

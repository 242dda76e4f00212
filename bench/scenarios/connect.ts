import { cpuMs, profileDir, ratio, reportProfile, round, rssBytes, sleep, targetsOf, verdict, withServer, type BenchOptions, type Report, type Row } from '../common.js';
import { GeneratorPool, MAX_CLIENTS_PER_PROCESS } from '../generators.js';
import { SECRET, type ProbeReport, type Running } from '../processes.js';

/** Memory of the server processes after a forced GC (falls back to /proc when the probe stays silent). */
async function memory(server: Running): Promise<{ rss: number; heap: number }> {
  const probes: ProbeReport[] = await server.probe();
  if (probes.length === 0) return { rss: rssBytes(server.pids()), heap: Number.NaN };
  return { rss: probes.reduce((a, p) => a + p.rss, 0), heap: probes.reduce((a, p) => a + p.heapUsed + p.external, 0) };
}

/**
 * Connect storm: `connections` clients (one user each) connect to one server process as
 * fast as it takes them, from several generator processes and source addresses. A client
 * counts once it is usable: Switchboard's `session:ready` (authenticated and registered),
 * the relays' namespace connect / `ready`. Server CPU from /proc/<pid>/stat around the
 * storm; memory per idle connection from the server's RSS (after a forced GC) before and
 * after, with every client still connected.
 */
export async function connectStorm(o: BenchOptions, report: Report): Promise<void> {
  const scenario = 'connect';
  const pool = await GeneratorPool.start(Math.max(o.generators, Math.ceil(o.connections / MAX_CLIENTS_PER_PROCESS)));
  const settleMs = o.smoke ? 200 : 3000;
  const rows: Row[] = [];
  const byTarget: Record<string, { perSecond: number; cpuUs: number; rssKb: number }> = {};
  try {
    for (const t of targetsOf(o, ['sio', 'switchboard', 'raw'])) {
      const prof = profileDir(o, scenario, t.key);
      const r = await withServer(() => t.start({ cpuProfDir: prof }), async (server) => {
        const clients = Array.from({ length: o.connections }, (_, i) => ({ user: `c${i}` }));
        await pool.prepare({ dialect: t.dialect, urls: server.urls, clients, secret: SECRET, connectTimeoutMs: 60_000 });
        await sleep(settleMs);
        const m0 = await memory(server);
        const cpu0 = cpuMs(server.pids());
        const from = Date.now();
        const storm = await pool.open({ concurrency: 100, deadlineMs: 180_000, attempts: 3 });
        const cpu1 = cpuMs(server.pids());
        const window = { from, to: Date.now(), spawnedAt: server.spawnedAt() };
        await sleep(settleMs);
        const m1 = await memory(server);
        const still = (await pool.received(true)).connected;
        await pool.closeClients();
        return { storm, cpu: cpu1 - cpu0, m0, m1, still, window };
      }, prof ? 30_000 : 0);
      await reportProfile(report, scenario, prof, r.window);
      const n = Math.max(1, r.storm.opened);
      const cpuUs = (r.cpu * 1000) / n;
      const rssKb = (r.m1.rss - r.m0.rss) / 1024 / n;
      byTarget[t.key] = { perSecond: r.storm.perSecond, cpuUs, rssKb };
      const c = r.storm.connectMs.summary();
      rows.push({
        server: t.name,
        connected: `${r.storm.opened}/${o.connections}`,
        'connects/s': round(r.storm.perSecond),
        seconds: round(r.storm.seconds, 2),
        'connect p50 ms': c.p50,
        'connect p99 ms': c.p99,
        'server CPU µs/conn': round(cpuUs),
        'RSS KB/conn': round(rssKb, 2),
        'heap KB/conn': round((r.m1.heap - r.m0.heap) / 1024 / n, 1),
        'idle after settle': r.still,
        errors: Object.entries(r.storm.errors).map(([k, v]) => `${k}×${v}`).join(' ') || 0,
      });
    }
  } finally {
    await pool.stop();
  }
  report.set(scenario, 'rows', rows);
  report.table(scenario, `Connect storm: ${o.connections} clients, one user each, ${pool.size} generator processes, up to ${pool.size * 100} connects in flight`, rows,
    'connects/s: clients / (first attempt → last usable). CPU: server utime+stime during the storm. RSS, heap: server after a forced GC, all clients connected and idle, minus before.');
  const sb = byTarget.switchboard;
  const bare = byTarget.sio;
  const raw = byTarget.raw;
  const budget: Row[] = [
    { check: 'connect rate, Switchboard / bare Socket.IO', ratio: verdict(ratio(sb?.perSecond, bare?.perSecond), 0.8, 'min') },
    { check: 'server CPU per connect, Switchboard / bare Socket.IO', ratio: round(ratio(sb?.cpuUs, bare?.cpuUs), 2) ?? 'n/a' },
    { check: 'memory per idle authenticated connection, Switchboard (KB)', ratio: verdict(sb?.rssKb ?? null, 16, 'max') },
    { check: 'memory per idle connection, Switchboard / bare Socket.IO', ratio: round(ratio(sb?.rssKb, bare?.rssKb), 2) ?? 'n/a' },
    { check: 'connect rate, bare Socket.IO / raw ws', ratio: round(ratio(bare?.perSecond, raw?.perSecond), 2) ?? 'n/a' },
  ];
  report.set(scenario, 'budget', budget);
  report.table(scenario, 'Connect storm: ratios and budget', budget);
}

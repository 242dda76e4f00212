import { profileDir, ratio, reportProfile, round, targetsOf, verdict, withServer, type BenchOptions, type Report, type Row } from '../common.js';
import { GeneratorPool } from '../generators.js';
import { SECRET } from '../processes.js';
import { floodRun, holds, pacedRun, pairSends, SMOKE_CAPS, type RunResult } from './traffic.js';

const STEPS = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25];

/**
 * Point-to-point chat through the full path. `pairs` direct conversations, both sides
 * sending ~200-byte messages to each other. Switchboard does it all: JWT auth at connect,
 * validation, membership, sequence number and store (the SQLite journal), inbox, ack,
 * delivery. The relays only route.
 *
 * Search: a short flood (every sender with 4 unacknowledged) estimates the ceiling; rates
 * from 40 % to 125 % of it are tried for min(hold, 5) s each, stepping up until p99
 * (send → delivery) reaches 100 ms or anything fails; the best rate must then hold for the
 * full `hold` seconds (if it does not, the step below is held instead; at most two holds).
 * With `history`, a flood of that many seconds comes first, unmeasured, so that Switchboard's
 * store and inboxes hold messages, as a server that has been running does.
 */
export async function pointToPoint(o: BenchOptions, report: Report): Promise<void> {
  const scenario = 'p2p';
  const pool = await GeneratorPool.start(o.generators);
  const rows: Row[] = [];
  const steps: Row[] = [];
  const best: Record<string, number> = {};
  const trialMs = Math.min(o.hold, 5) * 1000;
  try {
    for (const t of targetsOf(o, ['sio', 'switchboard', 'raw'])) {
      const prof = profileDir(o, scenario, t.key);
      const window = await withServer(() => t.start({ cpuProfDir: prof }), async (server) => {
        const users = Array.from({ length: o.pairs * 2 }, (_, i) => `p${i}`);
        await pool.prepare({ dialect: t.dialect, urls: server.urls, clients: users.map((user) => ({ user })), secret: SECRET });
        const opened = await pool.open({ concurrency: 100, deadlineMs: 60_000, attempts: 3 });
        if (opened.opened < users.length) throw new Error(`${t.name}: only ${opened.opened}/${users.length} clients connected`);
        const sends = await pairSends(pool, t.dialect, users, `m${Date.now()}-`);
        const base = { contentBytes: o.messageBytes, perMessage: 1, drainMs: o.smoke ? 3000 : 10_000, ...(o.smoke ? SMOKE_CAPS : {}) };
        await pacedRun(pool, sends, { ...base, rate: 200, durationMs: o.smoke ? 200 : 1000 });
        // History first, if asked: what a server that has been running holds (not measured).
        if (o.history > 0) await floodRun(pool, sends, { ...base, window: 4, durationMs: o.history * 1000 });
        const from = Date.now();
        const flood = await floodRun(pool, sends, { ...base, window: 4, durationMs: Math.min(trialMs, 5000) });
        const ceiling = Math.max(10, flood.ackedPerSecond);
        const step = (rate: number, durationMs: number, kind: string): Promise<RunResult> =>
          pacedRun(pool, sends, { ...base, rate, durationMs }).then((r) => {
            steps.push({ server: t.name, run: kind, 'rate msg/s': round(rate), 'delivered/s': round(r.delivered / (durationMs / 1000)), 'p50 ms': r.latency.p50, 'p99 ms': r.latency.p99, 'ack p99 ms': r.ack.p99, errors: r.failed + r.skipped, holds: holds(r) ? 'yes' : 'no' });
            return r;
          });
        const passing: { rate: number; r: RunResult }[] = [];
        for (const s of o.smoke ? [0.5] : STEPS) {
          const r = await step(ceiling * s, trialMs, `${round(s * 100)} % of flood`);
          if (!holds(r)) break;
          passing.push({ rate: ceiling * s, r });
        }
        let held: { rate: number; r: RunResult } | null = null;
        if (trialMs >= o.hold * 1000) {
          // The trials were full holds already.
          held = passing.at(-1) ?? null;
        } else {
          for (const { rate } of passing.slice(-2).reverse()) {
            const r = await step(rate, o.hold * 1000, `hold ${o.hold} s`);
            if (holds(r)) {
              held = { rate, r };
              break;
            }
          }
        }
        best[t.key] = held?.rate ?? 0;
        rows.push({
          server: t.name,
          'flood msg/s': round(flood.ackedPerSecond),
          'flood p99 ms': flood.latency.p99,
          [`max rate p99<100ms for ${o.hold} s`]: held ? round(held.rate) : 'none',
          'p50 ms': held?.r.latency.p50 ?? null,
          'p99 ms': held?.r.latency.p99 ?? null,
          'ack p50 ms': held?.r.ack.p50 ?? null,
          'ack p99 ms': held?.r.ack.p99 ?? null,
        });
        const to = Date.now();
        await pool.closeClients();
        return { from, to, spawnedAt: server.spawnedAt() };
      }, prof ? 30_000 : 0);
      await reportProfile(report, scenario, prof, window);
    }
  } finally {
    await pool.stop();
  }
  report.set(scenario, 'rows', rows);
  report.set(scenario, 'steps', steps);
  report.table(scenario, `Point-to-point rate search: ${o.pairs} conversations, both sides sending, ${o.messageBytes}-byte messages`, steps);
  report.table(scenario, `Point-to-point chat, full path: highest rate holding p99 < 100 ms (send → delivery) for ${o.hold} s`, rows,
    'Switchboard: auth, validation, membership, sequence and store (the SQLite journal, one transaction), inbox, ack, delivery. The relays only route. The rates are messages per second over all conversations.');
  const budget: Row[] = [
    { check: 'point-to-point rate at p99 < 100 ms, Switchboard / bare Socket.IO', ratio: verdict(ratio(best.switchboard, best.sio), 0.7, 'min') },
    { check: 'point-to-point rate, bare Socket.IO / raw ws', ratio: round(ratio(best.sio, best.raw), 2) ?? 'n/a' },
  ];
  report.set(scenario, 'budget', budget);
  report.table(scenario, 'Point-to-point: ratios and budget', budget);
}

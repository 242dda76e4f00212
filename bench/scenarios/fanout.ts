import { profileDir, ratio, reportProfile, round, targetsOf, TARGETS, verdict, type BenchOptions, type Report, type Row, type Target } from '../common.js';
import type { SendSpec } from '../generator.js';
import { GeneratorPool } from '../generators.js';
import { SECRET, type Running } from '../processes.js';
import { createConversation, floodRun, pacedRun, sendTo, SMOKE_CAPS, type RunResult } from './traffic.js';

interface Variant {
  label: string;
  target: Target;
  /** Switchboard's conversation type: a channel goes to a topic, a group to each member's inbox. */
  conversation?: 'channel' | 'group';
}

/** A target with its server, its own generator processes and its connected room. */
interface Armed {
  v: Variant;
  server: Running;
  pool: GeneratorPool;
  sends: SendSpec[];
  prof: string | undefined;
  from: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : Number.NaN;
};

/** Messages the flood's sender keeps unacknowledged. */
const FLOOD_WINDOW = 32;

/**
 * Room fan-out: one sender in a room of `members` (the sender included), ~200-byte
 * messages. Every server is started with its room connected (each with its own generator
 * processes), then the flood ceilings are measured in interleaved rounds — bare, Switchboard,
 * raw, bare, … — so that a slower minute of this shared machine does not land on one server
 * only; the ceiling is the median round. In a flood the sender keeps FLOOD_WINDOW messages
 * unacknowledged (8 left both relays and Switchboard short of their ceilings), and ceiling = deliveries / (first send → last delivery), so what a
 * server buffered counts only once it arrived. Then paced runs at 25/50/75 % of the bare
 * Socket.IO relay's ceiling (the same absolute load for every server), timed at the
 * receivers.
 */
export async function fanout(o: BenchOptions, report: Report): Promise<void> {
  const scenario = 'fanout';
  const variants: Variant[] = [];
  for (const t of targetsOf(o, ['sio', 'switchboard', 'raw'])) {
    if (t.key === 'switchboard') {
      variants.push({ label: 'Switchboard, channel (topic)', target: t, conversation: 'channel' });
      variants.push({ label: 'Switchboard, group (inboxes)', target: t, conversation: 'group' });
    } else {
      variants.push({ label: t.name, target: t });
    }
  }
  const rounds = o.smoke ? 1 : 3;
  const durationMs = o.seconds * 1000;
  const receivers = o.members - 1;
  const base = { contentBytes: o.messageBytes, perMessage: receivers, drainMs: o.smoke ? 3000 : 20_000, ...(o.smoke ? SMOKE_CAPS : {}) };
  const armed: Armed[] = [];
  const floods = new Map<Variant, RunResult[]>();
  const ceilingRows: Row[] = [];
  const pacedRows: Row[] = [];
  const ceiling = (v: Variant) => median((floods.get(v) ?? []).map((r) => r.deliveredPerSecond));
  try {
    // The smoke run starts one server per target: Switchboard's channel and group share it.
    const shared = new Map<string, { server: Running; pool: GeneratorPool; prof: string | undefined }>();
    const users = Array.from({ length: o.members }, (_, i) => `f${i}`);
    for (const v of variants) {
      let setup = o.smoke ? shared.get(v.target.key) : undefined;
      if (!setup) {
        const prof = profileDir(o, `${scenario}-${v.conversation ?? v.target.key}`, v.target.key);
        const server = await v.target.start({ cpuProfDir: prof });
        const pool = await GeneratorPool.start(o.generators).catch(async (err: unknown) => {
          await server.stop();
          throw err;
        });
        setup = { server, pool, prof };
        shared.set(v.target.key, setup);
        armed.push({ v, ...setup, sends: [], from: 0 });
        await pool.prepare({ dialect: v.target.dialect, urls: server.urls, clients: users.map((user) => ({ user, rooms: ['room'] })), secret: SECRET });
        const opened = await pool.open({ concurrency: 100, deadlineMs: 60_000, attempts: 3 });
        if (opened.opened < o.members) throw new Error(`${v.label}: only ${opened.opened}/${o.members} clients connected`);
      } else {
        armed.push({ v, ...setup, sends: [], from: 0 });
      }
      const a = armed.at(-1)!;
      const conversationId = v.conversation
        ? await createConversation(a.pool, 0, { type: v.conversation, name: 'fan-out', members: users.slice(1) })
        : undefined;
      a.sends = [{ from: 0, ...sendTo(v.target.dialect, { room: 'room', conversationId }, `fan${Date.now()}-`) }];
      // Warm-up: JIT, buffers, caches.
      await floodRun(a.pool, a.sends, { ...base, window: FLOOD_WINDOW, durationMs: o.smoke ? 200 : 1000 });
    }
    for (const a of armed) a.from = Date.now();
    for (let round = 0; round < rounds; round++) {
      for (const a of armed) {
        const r = await floodRun(a.pool, a.sends, { ...base, window: FLOOD_WINDOW, durationMs });
        floods.set(a.v, [...(floods.get(a.v) ?? []), r]);
      }
    }
    for (const a of armed) if (!a.server.alive()) throw new Error(`${a.v.label}: the server process exited during the run`);
    for (const a of armed) {
      const all = floods.get(a.v) ?? [];
      const mid = all.find((r) => r.deliveredPerSecond === ceiling(a.v)) ?? all[0]!;
      ceilingRows.push({
        server: a.v.label,
        'deliveries/s': round(ceiling(a.v)),
        'rounds (deliveries/s)': all.map((r) => round(r.deliveredPerSecond)).join(', '),
        'messages/s': round(mid.ackedPerSecond),
        delivered: `${mid.delivered}/${mid.expected}`,
        'ack p50 ms': mid.ack.p50,
        'ack p99 ms': mid.ack.p99,
        'delivery p50 ms': mid.latency.p50,
        'delivery p99 ms': mid.latency.p99,
      });
    }
    const bareVariant = variants.find((v) => v.target.key === 'sio');
    const reference = bareVariant ? ceiling(bareVariant) : null;
    for (const a of armed) {
      const c = reference ?? ceiling(a.v);
      for (const share of o.smoke ? [0.5] : [0.25, 0.5, 0.75]) {
        const deliveriesPerSecond = c * share;
        const r = await pacedRun(a.pool, a.sends, { ...base, rate: deliveriesPerSecond / receivers, durationMs, maxInFlight: 1000 });
        pacedRows.push({
          server: a.v.label,
          load: `${share * 100} %`,
          'target deliveries/s': round(deliveriesPerSecond),
          'deliveries/s': round(r.delivered / (durationMs / 1000)),
          delivered: `${r.delivered}/${Math.round(r.sent * receivers)}`,
          'p50 ms': r.latency.p50,
          'p99 ms': r.latency.p99,
          'max ms': r.latency.max,
          errors: r.failed + r.skipped,
        });
      }
    }
    report.set(scenario, 'ceiling', ceilingRows);
    report.set(scenario, 'paced', pacedRows);
    report.table(scenario, `Room fan-out flood ceiling: 1 sender, room of ${o.members}, ${o.messageBytes}-byte messages, ${FLOOD_WINDOW} unacknowledged, ${o.seconds} s × ${rounds} interleaved rounds (median)`, ceilingRows,
      'deliveries/s: messages received by the members / (first send → last delivery). Switchboard channel: topic emit (encoded once, no inbox); group: every member\'s inbox, then one emit per member. Latencies of the median round.');
    report.table(scenario, `Room fan-out, paced at 25/50/75 % of the bare Socket.IO ceiling (${round(reference ?? Number.NaN) ?? 'n/a'} deliveries/s), ${o.seconds} s each; latency send → each member`, pacedRows);
    const of = (label: string) => {
      const v = variants.find((x) => x.label === label);
      return v ? ceiling(v) : null;
    };
    const bare = of(TARGETS.sio.name);
    const budget: Row[] = [
      { check: 'fan-out ceiling, Switchboard channel / bare Socket.IO', ratio: verdict(ratio(of('Switchboard, channel (topic)'), bare), 0.95, 'min') },
      { check: 'fan-out ceiling, Switchboard group / bare Socket.IO', ratio: verdict(ratio(of('Switchboard, group (inboxes)'), bare), 0.95, 'min') },
      { check: 'fan-out ceiling, bare Socket.IO / raw ws', ratio: round(ratio(bare, of(TARGETS.raw.name)), 2) ?? 'n/a' },
    ];
    report.set(scenario, 'budget', budget);
    report.table(scenario, 'Room fan-out: ratios and budget', budget);
  } finally {
    const to = Date.now();
    const stopped = new Set<Running>();
    for (const a of armed) {
      if (stopped.has(a.server)) continue;
      stopped.add(a.server);
      await a.pool.stop();
      await a.server.stop(a.prof ? 30_000 : 0);
      await reportProfile(report, scenario, a.prof, { from: a.from, to, spawnedAt: a.server.spawnedAt() });
    }
  }
}

import type { Histogram, LatencySummary } from '../histogram.js';
import type { FloodArgs, PacedArgs, SendSpec } from '../generator.js';
import type { GeneratorPool } from '../generators.js';
import { wallClock, type Dialect } from '../wire.js';

/*
 * Sending helpers shared by the scenarios: conversations between pairs of clients, and
 * flood / paced runs measured at the receivers.
 */

/** How one target names a send to a user or a room. */
export function sendTo(dialect: Dialect, target: { user?: string; room?: string; conversationId?: string }, idBase: string): Omit<SendSpec, 'from'> {
  if (dialect === 'switchboard') return { event: 'message:send', payload: { conversationId: target.conversationId, clientMessageId: idBase } };
  return { event: 'send', payload: target.room !== undefined ? { room: target.room } : { to: [target.user] } };
}

/** Creates a conversation from client `from`; returns its id (throws on a refusal). */
export async function createConversation(pool: GeneratorPool, from: number, payload: Record<string, unknown>): Promise<string> {
  const ack = (await pool.call(from, 'room:create', payload)) as { ok: boolean; data?: { conversation: { id: string } }; error?: { code: string } };
  if (!ack?.ok || !ack.data) throw new Error(`room:create failed: ${ack?.error?.code ?? JSON.stringify(ack)}`);
  return ack.data.conversation.id;
}

/**
 * Pairs (a_i, b_i) of `users`, at client indices offset + (2i, 2i+1); for Switchboard, one direct conversation
 * each. Both sides send to each other. Returns the sends.
 */
export async function pairSends(pool: GeneratorPool, dialect: Dialect, users: string[], prefix: string, offset = 0): Promise<SendSpec[]> {
  const sends: SendSpec[] = [];
  const pairs = users.length / 2;
  const conversations: (string | undefined)[] = [];
  if (dialect === 'switchboard') {
    // A few at a time: room:create writes to the store.
    for (let i = 0; i < pairs; i += 20) {
      const batch = Array.from({ length: Math.min(20, pairs - i) }, (_, k) => i + k);
      const ids = await Promise.all(batch.map((p) => createConversation(pool, offset + 2 * p, { type: 'direct', members: [users[2 * p + 1]] })));
      batch.forEach((p, k) => (conversations[p] = ids[k]));
    }
  }
  for (let p = 0; p < pairs; p++) {
    const [a, b] = [2 * p, 2 * p + 1];
    sends.push({ from: offset + a, ...sendTo(dialect, { user: users[b], conversationId: conversations[p] }, `${prefix}${p}a`) });
    sends.push({ from: offset + b, ...sendTo(dialect, { user: users[a], conversationId: conversations[p] }, `${prefix}${p}b`) });
  }
  return sends;
}

export interface RunResult {
  sent: number;
  acked: number;
  failed: number;
  skipped: number;
  errors: Record<string, number>;
  delivered: number;
  expected: number;
  /** Deliveries per second, from the first send to the last delivery. */
  deliveredPerSecond: number;
  /** Acknowledged events per second over the sending phase. */
  ackedPerSecond: number;
  latency: LatencySummary;
  ack: LatencySummary;
  seconds: number;
}

async function measure(pool: GeneratorPool, send: Awaited<ReturnType<GeneratorPool['send']>>, perMessage: number, drainMs: number): Promise<RunResult> {
  const expected = send.acked * perMessage;
  await pool.awaitDelivered(expected, drainMs);
  const got = await pool.received(true);
  const seconds = Math.max(1e-3, ((got.lastAt || send.endedAt) - send.startedAt) / 1000);
  return {
    sent: send.sent,
    acked: send.acked,
    failed: send.failed,
    skipped: send.skipped,
    errors: send.errors,
    delivered: got.delivered,
    expected,
    deliveredPerSecond: got.delivered / seconds,
    ackedPerSecond: send.acked / Math.max(1e-3, (send.endedAt - send.startedAt) / 1000),
    latency: got.latencyMs.summary(),
    ack: (send.ackMs as Histogram).summary(),
    seconds,
  };
}

/** What every run takes: message size, deliveries per message, how long to wait for them, and the smoke run's caps. */
export interface RunBase {
  contentBytes: number;
  perMessage: number;
  drainMs: number;
  /** Flood: most messages per generator process. */
  maxMessages?: number;
  /** Paced: highest rate, whatever is asked. */
  maxRate?: number;
}

/** The smoke run checks that everything works, not speed: a few messages at a low rate. */
export const SMOKE_CAPS = { maxMessages: 100, maxRate: 300 };

/** Every sender keeps `window` events unacknowledged for `durationMs`. */
export async function floodRun(pool: GeneratorPool, sends: SendSpec[], o: RunBase & { window: number; durationMs: number }): Promise<RunResult> {
  await pool.received(true);
  const per = pool.bySender(sends);
  const send = await pool.send('flood', (g) => (per[g]!.length === 0 ? null : {
    sends: per[g]!, window: o.window, durationMs: o.durationMs, maxMessages: o.maxMessages ?? 10_000_000, contentBytes: o.contentBytes,
  } satisfies FloodArgs));
  return measure(pool, send, o.perMessage, o.drainMs);
}

/** `rate` events per second in total for `durationMs`, spread over the senders. */
export async function pacedRun(pool: GeneratorPool, sends: SendSpec[], o: RunBase & { rate: number; durationMs: number; maxInFlight?: number }): Promise<RunResult> {
  await pool.received(true);
  const rate = Math.min(o.rate, o.maxRate ?? Number.POSITIVE_INFINITY);
  const per = pool.bySender(sends);
  const startAt = wallClock() + 200;
  const send = await pool.send('paced', (g) => (per[g]!.length === 0 ? null : {
    sends: per[g]!, rate: (rate * per[g]!.length) / sends.length, durationMs: o.durationMs, maxInFlight: o.maxInFlight ?? 500, contentBytes: o.contentBytes, startAt,
  } satisfies PacedArgs));
  return measure(pool, send, o.perMessage, o.drainMs);
}

/** A paced run passes when p99 < `p99Ms`, nothing failed or was skipped, and (almost) everything arrived. */
export function holds(r: RunResult, p99Ms = 100): boolean {
  return r.latency.p99 !== null && r.latency.p99 < p99Ms && r.failed === 0 && r.skipped === 0 && r.delivered >= r.expected * 0.999 && r.acked >= r.sent * 0.999;
}

import { performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import { mintToken } from '../src/adapters/jose/mint-token.js';
import { DELIVERY_SECRET } from './delivery-processes.js';

/*
 * The load of the delivery benchmark: connections that send chat messages to a peer and
 * time, per message, send → acknowledgement and send → arrival at the peer.
 */

/** One user's connection, sending to one peer. */
export interface LoadClient {
  readonly user: string;
  /** Sends one message to the peer; `done` gets whether it was acknowledged with ok. */
  send(id: string, done: (ok: boolean) => void): void;
  /** Called with the id of each message this connection receives. */
  onDelivered(listener: (id: string) => void): void;
  close(): void;
}

type Ack = { ok: boolean; data?: { conversation?: { id: string } }; error?: { code?: string } };
interface Envelope { payload: { data: { clientMessageId?: string } } }

const ACK_TIMEOUT_MS = 10_000;

function connected(socket: Socket, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once(event, () => resolve());
    socket.once('connect_error', reject);
  });
}

/** A Switchboard connection (protocol v1, plain delivery: no `auth.inbox`). */
export async function switchboardClient(url: string, user: string): Promise<LoadClient & { createDirect(peer: string): Promise<string>; conversation: string }> {
  const token = await mintToken({ secret: DELIVERY_SECRET, user, tenant: 'bench' });
  const socket = io(url, { auth: { token, v: 1 }, transports: ['websocket'], reconnection: false, forceNew: true });
  await connected(socket, 'session:ready');
  const client = {
    user,
    conversation: '',
    async createDirect(peer: string) {
      const ack = (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck('room:create', { type: 'direct', members: [peer] })) as Ack;
      if (!ack.ok || !ack.data?.conversation) throw new Error(`room:create failed: ${JSON.stringify(ack.error)}`);
      return ack.data.conversation.id;
    },
    send(id: string, done: (ok: boolean) => void) {
      socket.timeout(ACK_TIMEOUT_MS).emit('message:send', { conversationId: client.conversation, clientMessageId: id, content: id }, (err: unknown, ack: Ack) => done(!err && ack.ok));
    },
    onDelivered(listener: (id: string) => void) {
      socket.on('message:new', (env: Envelope) => listener(env.payload.data.clientMessageId ?? ''));
    },
    close: () => void socket.close(),
  };
  return client;
}

/** A connection to bench/bare-relay.ts. */
export async function bareClient(url: string, user: string, peer: string): Promise<LoadClient> {
  const socket = io(url, { auth: { user }, transports: ['websocket'], reconnection: false, forceNew: true });
  await connected(socket, 'connect');
  return {
    user,
    send(id, done) {
      socket.timeout(ACK_TIMEOUT_MS).emit('send', { to: [peer], id, content: id }, (err: unknown, ack: Ack) => done(!err && ack.ok));
    },
    onDelivered(listener) {
      socket.on('message:new', (data: { id: string }) => listener(data.id));
    },
    close: () => void socket.close(),
  };
}

/** Timings of one phase: messages whose id starts with the phase's prefix. */
export class PhaseTracker {
  private readonly open = new Map<string, { t0: number; acked: boolean; delivered: boolean }>();
  readonly ackMs: number[] = [];
  readonly deliverMs: number[] = [];
  sent = 0;
  acked = 0;
  failed = 0;
  delivered = 0;
  /** Acks and arrivals inside the measuring window (for rates). */
  windowAcked = 0;
  windowDelivered = 0;
  windowOpen = true;
  /** When the last acknowledgement came (performance.now()). */
  lastAckAt = 0;

  constructor(readonly prefix: string) {}

  start(id: string): void {
    this.sent += 1;
    this.open.set(id, { t0: performance.now(), acked: false, delivered: false });
  }

  ack(id: string, ok: boolean): void {
    const m = this.open.get(id);
    const now = performance.now();
    this.lastAckAt = now;
    if (!ok) {
      this.failed += 1;
      return;
    }
    this.acked += 1;
    if (this.windowOpen) this.windowAcked += 1;
    if (!m) return;
    m.acked = true;
    this.ackMs.push(now - m.t0);
    if (m.delivered) this.open.delete(id);
  }

  deliver(id: string): void {
    if (!id.startsWith(this.prefix)) return;
    const m = this.open.get(id);
    if (!m || m.delivered) return;
    this.delivered += 1;
    if (this.windowOpen) this.windowDelivered += 1;
    m.delivered = true;
    this.deliverMs.push(performance.now() - m.t0);
    if (m.acked) this.open.delete(id);
  }

  /** Resolves once every acknowledged message arrived and nothing is in flight, or after `timeoutMs`. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && (this.acked + this.failed < this.sent || this.delivered < this.acked)) await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A sender and its recipient. */
export interface Pair {
  from: LoadClient;
  to: LoadClient;
}

/** Routes arrivals to whichever phase is running. */
export function listen(pairs: Pair[], current: () => PhaseTracker | null): void {
  const seen = new Set<LoadClient>();
  for (const { to } of pairs) {
    if (seen.has(to)) continue;
    seen.add(to);
    to.onDelivered((id) => current()?.deliver(id));
  }
}

/** Sends `count` messages over the first pair at `rate` per second. */
export async function paced(pair: Pair, tracker: PhaseTracker, count: number, rate: number): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const id = `${tracker.prefix}${i}`;
    tracker.start(id);
    pair.from.send(id, (ok) => tracker.ack(id, ok));
  }
  tracker.windowOpen = false;
  await tracker.settle(10_000);
}

/**
 * Every pair's sender keeps `window` messages in flight (a new one on each answer) for
 * `seconds` or until `maxMessages` were sent; rates count what happened inside that time.
 * Resolves with the measured seconds.
 */
export async function windowed(pairs: Pair[], tracker: PhaseTracker, window: number, seconds: number, maxMessages: number): Promise<number> {
  let running = true;
  let n = 0;
  const started = performance.now();
  const pump = (from: LoadClient): void => {
    if (!running || n >= maxMessages) return;
    const id = `${tracker.prefix}${n++}`;
    tracker.start(id);
    from.send(id, (ok) => {
      tracker.ack(id, ok);
      pump(from);
    });
  };
  for (const { from } of pairs) for (let w = 0; w < window; w++) pump(from);
  while (performance.now() - started < seconds * 1000 && n < maxMessages) await sleep(10);
  running = false;
  tracker.windowOpen = false;
  const elapsed = (performance.now() - started) / 1000;
  await tracker.settle(10_000);
  return elapsed;
}

export function percentile(samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const s = [...samples].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 100) / 100;
}

import { mintToken } from '../src/adapters/jose/mint-token.js';
import { Histogram, type HistogramData } from './histogram.js';
import { ConnectError, fullJitter, stampedContent, stampOf, wallClock, WireClient, type Dialect } from './wire.js';

/*
 * A load generator process (forked by bench/generators.ts): it holds a share of the
 * simulated clients and does what the orchestrator asks over IPC, one command at a time
 * per request id. Every loop here is bounded by a count and a deadline.
 */

export interface ClientSpec {
  user: string;
  /** Rooms to be in from the start (bare relays join them in the handshake). */
  rooms?: string[];
}

export interface PrepareArgs {
  dialect: Dialect;
  /** Server URLs; client i connects to urls[i % urls.length] unless `urlOf` picks. */
  urls: string[];
  clients: ClientSpec[];
  /** Index into `urls` per client (same length as `clients`), optional. */
  urlIndex?: number[];
  localAddresses: string[];
  secret: string;
  tenant: string;
  tokenTtlSeconds: number;
  connectTimeoutMs: number;
}

export interface OpenArgs {
  /** Connections in flight at once in this process. */
  concurrency: number;
  deadlineMs: number;
  /** Attempts per client before it counts as failed (bounded, with backoff between). */
  attempts: number;
}

export interface OpenResult {
  opened: number;
  failed: number;
  errors: Record<string, number>;
  startedAt: number;
  endedAt: number;
  connectMs: HistogramData;
}

/** A send from one of this process's clients. */
export interface SendSpec {
  /** Index of the sending client in this process. */
  from: number;
  /** The event and its payload, except `content`, which is stamped at send time. */
  event: string;
  payload: Record<string, unknown>;
}

export interface FloodArgs {
  sends: SendSpec[];
  /** Unacknowledged events per sender. */
  window: number;
  durationMs: number;
  maxMessages: number;
  contentBytes: number;
}

export interface PacedArgs {
  sends: SendSpec[];
  /** Events per second from this process, spread round-robin over `sends`. */
  rate: number;
  durationMs: number;
  /** Above this many unacknowledged events per sender, a due send is skipped and counted. */
  maxInFlight: number;
  contentBytes: number;
  /** Wall-clock time to start at (so that all processes start together). */
  startAt: number;
}

export interface SendResult {
  sent: number;
  acked: number;
  failed: number;
  skipped: number;
  errors: Record<string, number>;
  ackMs: HistogramData;
  startedAt: number;
  endedAt: number;
}

export interface ReceiveStats {
  delivered: number;
  latencyMs: HistogramData;
  firstAt: number;
  lastAt: number;
  /** Events other than deliveries, by name, over all clients. */
  events: Record<string, number>;
  connected: number;
}

export interface ReconnectArgs {
  baseMs: number;
  capMs: number;
  /** Stop trying after this long from the drop. */
  deadlineMs: number;
}

export interface ReconnectStats {
  dropped: number;
  restored: number;
  failedAttempts: number;
  /** Failed attempts by error code. */
  errors: Record<string, number>;
  /** Drop → usable again (Switchboard: session:ready), per client. */
  restoreMs: HistogramData;
  firstDropAt: number;
  lastRestoredAt: number;
}

export type Command =
  | { cmd: 'prepare'; args: PrepareArgs }
  | { cmd: 'open'; args: OpenArgs }
  | { cmd: 'call'; args: { from: number; event: string; payload: unknown; timeoutMs: number } }
  | { cmd: 'flood'; args: FloodArgs }
  | { cmd: 'paced'; args: PacedArgs }
  | { cmd: 'received'; args: { reset: boolean } }
  | { cmd: 'reconnect'; args: ReconnectArgs }
  | { cmd: 'reconnectStats'; args: Record<string, never> }
  | { cmd: 'close'; args: Record<string, never> };

const ACK_TIMEOUT_MS = 10_000;
/** A client gives up after this many failed reconnect attempts (besides the deadline). */
const MAX_RECONNECT_ATTEMPTS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let clients: WireClient[] = [];
/** Makes every message id of this process unique, across runs too. */
let messageCounter = 0;
let received = { delivered: 0, hist: new Histogram(), firstAt: 0, lastAt: 0 };
let reconnect: (ReconnectArgs & { stats: ReconnectStats; hist: Histogram; dropAt: Map<WireClient, number>; timers: Set<NodeJS.Timeout> }) | null = null;

const onDeliver = (frame: string): void => {
  const now = wallClock();
  received.delivered += 1;
  if (received.firstAt === 0) received.firstAt = now;
  received.lastAt = now;
  const stamp = stampOf(frame);
  if (Number.isFinite(stamp)) received.hist.add(now - stamp);
};

const sweeper = setInterval(() => {
  const now = Date.now();
  for (const c of clients) if (c.inFlight > 0) c.sweep(ACK_TIMEOUT_MS, now);
}, 1000);
sweeper.unref();

function countError(errors: Record<string, number>, err: unknown): void {
  const code = err instanceof ConnectError ? err.code : err instanceof Error ? err.message : String(err);
  errors[code] = (errors[code] ?? 0) + 1;
}

async function prepare(a: PrepareArgs): Promise<{ clients: number }> {
  for (const c of clients) c.close();
  clients = [];
  for (let i = 0; i < a.clients.length; i++) {
    const spec = a.clients[i]!;
    const auth = a.dialect === 'switchboard'
      ? { token: await mintToken({ secret: a.secret, user: spec.user, tenant: a.tenant, ttlSeconds: a.tokenTtlSeconds }), v: 1 }
      : { user: spec.user, rooms: spec.rooms ?? [] };
    const client: WireClient = new WireClient({
      dialect: a.dialect,
      url: a.urls[(a.urlIndex?.[i] ?? i) % a.urls.length]!,
      localAddress: a.localAddresses[i % a.localAddresses.length],
      auth,
      onDeliver,
      onDrop: () => dropped(client),
      connectTimeoutMs: a.connectTimeoutMs,
    });
    clients.push(client);
  }
  return { clients: clients.length };
}

async function open(a: OpenArgs): Promise<OpenResult> {
  const hist = new Histogram();
  const errors: Record<string, number> = {};
  const startedAt = wallClock();
  const deadline = Date.now() + a.deadlineMs;
  let opened = 0;
  let failed = 0;
  let next = 0;
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= clients.length) return;
      const c = clients[i]!;
      let done = false;
      for (let attempt = 0; attempt < a.attempts && !done && Date.now() < deadline; attempt++) {
        if (attempt > 0) await sleep(fullJitter(attempt, 100, 2000));
        const t0 = performance.now();
        try {
          await c.connect();
          hist.add(performance.now() - t0);
          done = true;
        } catch (err) {
          countError(errors, err);
        }
      }
      if (done) opened++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(a.concurrency, clients.length)) }, lane));
  return { opened, failed, errors, startedAt, endedAt: wallClock(), connectMs: hist.toJSON() };
}

function newSendResult(): SendResult & { hist: Histogram } {
  return { sent: 0, acked: 0, failed: 0, skipped: 0, errors: {}, ackMs: { counts: [], count: 0, min: 0, max: 0 }, startedAt: wallClock(), endedAt: 0, hist: new Histogram() };
}

function finish(r: SendResult & { hist: Histogram }): SendResult {
  const { hist, ...rest } = r;
  return { ...rest, ackMs: hist.toJSON(), endedAt: wallClock() };
}

/** Sends one stamped event and records its acknowledgement. */
function fire(spec: SendSpec, contentBytes: number, r: SendResult & { hist: Histogram }): Promise<void> {
  const seq = messageCounter++;
  const c = clients[spec.from]!;
  const t0 = performance.now();
  const payload: Record<string, unknown> = { ...spec.payload, content: stampedContent(contentBytes) };
  // Time first, as in the SDK's UUIDv7 ids.
  if ('clientMessageId' in spec.payload) payload.clientMessageId = `${Date.now().toString(16).padStart(12, '0')}-${spec.payload.clientMessageId as string}-${seq}`;
  r.sent++;
  return c.call(spec.event, payload).then(
    (answer) => {
      if ((answer as { ok?: boolean } | undefined)?.ok === false) {
        r.failed++;
        countError(r.errors, (answer as { error?: { code?: string } }).error?.code ?? 'NOT_OK');
        return;
      }
      r.acked++;
      r.hist.add(performance.now() - t0);
    },
    (err: unknown) => {
      r.failed++;
      countError(r.errors, err);
    },
  );
}

/** Each sender keeps `window` events unacknowledged, as fast as the server answers. */
async function flood(a: FloodArgs): Promise<SendResult> {
  const r = newSendResult();
  const until = Date.now() + a.durationMs;
  let seq = 0;
  const lane = async (spec: SendSpec) => {
    while (Date.now() < until && seq < a.maxMessages && clients[spec.from]!.connected) {
      seq++;
      await fire(spec, a.contentBytes, r);
    }
  };
  await Promise.all(a.sends.flatMap((s) => Array.from({ length: a.window }, () => lane(s))));
  return finish(r);
}

/** Sends at a fixed rate, in ticks of 5 ms, round-robin over the senders. */
async function paced(a: PacedArgs): Promise<SendResult> {
  if (a.startAt > wallClock()) await sleep(a.startAt - wallClock());
  const r = newSendResult();
  const t0 = performance.now();
  const total = Math.round((a.rate * a.durationMs) / 1000);
  const pending = new Set<Promise<void>>();
  let n = 0;
  while (n < total && performance.now() - t0 < a.durationMs + 1000) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * a.rate) / 1000) + 1);
    for (; n < due; n++) {
      const spec = a.sends[n % a.sends.length]!;
      if (clients[spec.from]!.inFlight >= a.maxInFlight || !clients[spec.from]!.connected) {
        r.skipped++;
        continue;
      }
      const p = fire(spec, a.contentBytes, r);
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
    await sleep(5);
  }
  r.skipped += total - n;
  await Promise.race([Promise.all(pending), sleep(ACK_TIMEOUT_MS + 1000)]);
  return finish(r);
}

function receivedStats(reset: boolean): ReceiveStats {
  const events: Record<string, number> = {};
  let connected = 0;
  for (const c of clients) {
    if (c.connected) connected++;
    for (const [k, v] of c.events) events[k] = (events[k] ?? 0) + v;
  }
  const out = { delivered: received.delivered, latencyMs: received.hist.toJSON(), firstAt: received.firstAt, lastAt: received.lastAt, events, connected };
  if (reset) received = { delivered: 0, hist: new Histogram(), firstAt: 0, lastAt: 0 };
  return out;
}

function dropped(client: WireClient): void {
  const r = reconnect;
  if (!r) return;
  const at = wallClock();
  r.stats.dropped++;
  if (r.stats.firstDropAt === 0) r.stats.firstDropAt = at;
  r.dropAt.set(client, at);
  const attempt = (n: number) => {
    const timer = setTimeout(() => {
      r.timers.delete(timer);
      if (reconnect !== r || wallClock() - at > r.deadlineMs || n >= MAX_RECONNECT_ATTEMPTS) return;
      client.connect().then(
        () => {
          const now = wallClock();
          r.stats.restored++;
          r.stats.lastRestoredAt = Math.max(r.stats.lastRestoredAt, now);
          r.hist.add(now - at);
          r.dropAt.delete(client);
        },
        (err: unknown) => {
          r.stats.failedAttempts++;
          countError(r.stats.errors, err);
          attempt(n + 1);
        },
      );
    }, fullJitter(n, r.baseMs, r.capMs));
    r.timers.add(timer);
  };
  attempt(0);
}

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'prepare':
      return prepare(c.args);
    case 'open':
      return open(c.args);
    case 'call': {
      const client = clients[c.args.from];
      if (!client) throw new Error(`no client ${c.args.from}`);
      return Promise.race([client.call(c.args.event, c.args.payload), sleep(c.args.timeoutMs).then(() => ({ ok: false, error: { code: 'TIMEOUT' } }))]);
    }
    case 'flood':
      return flood(c.args);
    case 'paced':
      return paced(c.args);
    case 'received':
      return receivedStats(c.args.reset);
    case 'reconnect':
      if (reconnect) for (const t of reconnect.timers) clearTimeout(t);
      reconnect = { ...c.args, hist: new Histogram(), dropAt: new Map(), timers: new Set(), stats: { dropped: 0, restored: 0, failedAttempts: 0, errors: {}, restoreMs: { counts: [], count: 0, min: 0, max: 0 }, firstDropAt: 0, lastRestoredAt: 0 } };
      return { armed: clients.length };
    case 'reconnectStats': {
      if (!reconnect) return null;
      return { ...reconnect.stats, restoreMs: reconnect.hist.toJSON() } satisfies ReconnectStats;
    }
    case 'close':
      if (reconnect) for (const t of reconnect.timers) clearTimeout(t);
      reconnect = null;
      for (const cl of clients) cl.close();
      clients = [];
      return { closed: true };
  }
}

process.on('message', (m: { id: number; command: Command }) => {
  handle(m.command).then(
    (result) => process.send?.({ id: m.id, ok: true, result }),
    (err: unknown) => process.send?.({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ok: true, result: 'ready' });

import WebSocket from 'ws';

/*
 * The load generator's client: the Socket.IO protocol written by hand over `ws`, so that
 * generating load costs as little as possible and the server, not the client library, is
 * what gets measured.
 *
 * Engine.IO v4 over WebSocket only: the server opens with `0{sid,pingInterval,…}`, pings
 * with `2` and expects `3`; `1` closes. Socket.IO v5 packets ride in Engine.IO messages
 * (`4`): `40{auth}` connects the default namespace (answered `40{sid}` or `44{error}`),
 * `42[event,arg]` is an event, `42<id>[event,arg]` asks for an acknowledgement that comes
 * back as `43<id>[answer]`, `41` is a disconnect.
 *
 * The raw dialect is the bench's own JSON over plain WebSocket (bench/raw-ws-relay.ts):
 * `{t:'hello',user,rooms}` → `{t:'ready'}`, `{t:'send',id,…}` → `{t:'ack',id}`, and
 * deliveries `{t:'msg',…}`.
 */

export type Dialect = 'switchboard' | 'sio' | 'raw';

export interface ClientOptions {
  dialect: Dialect;
  /** http://host:port of the server. */
  url: string;
  /** Source address of the TCP connection (anything in 127.0.0.0/8 on loopback). */
  localAddress?: string;
  /** `switchboard`: `{ token, v: 1 }`; `sio`: `{ user, rooms }`; `raw`: the hello's fields. */
  auth: Record<string, unknown>;
  /** Called with the raw text of each delivered chat message (`message:new` / `msg`). */
  onDeliver?: (frame: string) => void;
  /** Called once when an established connection closes (not for a failed attempt). */
  onDrop?: () => void;
  /** Limit of the whole connect (TCP, upgrade, namespace, `session:ready`). */
  connectTimeoutMs?: number;
}

export class ConnectError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  at: number;
}

const MESSAGE_NEW = '42["message:new"';
const RAW_MSG = '{"t":"msg"';

/** One connection of one simulated user; `connect()` may be called again after a drop. */
export class WireClient {
  private ws: WebSocket | null = null;
  private readonly acks = new Map<number, Pending>();
  private nextAck = 1;
  private live = false;
  /** Events other than deliveries and acks that arrived, by name (e.g. server:error). */
  readonly events = new Map<string, number>();

  constructor(readonly options: ClientOptions) {}

  get connected(): boolean {
    return this.live;
  }

  get inFlight(): number {
    return this.acks.size;
  }

  /** Resolves once the connection is usable: `session:ready` (Switchboard), `40` (Socket.IO) or `ready` (raw). */
  connect(): Promise<void> {
    const { dialect, url, localAddress, auth } = this.options;
    const wsUrl = dialect === 'raw' ? `${url.replace(/^http/, 'ws')}/` : `${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
    const timeoutMs = this.options.connectTimeoutMs ?? 30_000;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const ws = new WebSocket(wsUrl, { localAddress, perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: timeoutMs, maxPayload: 4 * 1024 * 1024 });
      this.ws = ws;
      const timer = setTimeout(() => fail(new ConnectError('connect timed out', 'TIMEOUT')), timeoutMs);
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.removeAllListeners('close');
        ws.on('close', () => undefined);
        ws.terminate();
        if (this.ws === ws) this.ws = null;
        reject(err);
      };
      const ok = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.live = true;
        resolve();
      };
      ws.on('error', (err) => fail(new ConnectError(err.message, (err as NodeJS.ErrnoException).code ?? 'ERROR')));
      ws.on('close', () => {
        if (!settled) return fail(new ConnectError('closed while connecting', 'CLOSED'));
        this.dropped(ws);
      });
      if (dialect === 'raw') {
        ws.on('open', () => ws.send(JSON.stringify({ t: 'hello', ...auth })));
        ws.on('message', (data) => {
          const s = data.toString();
          if (s.startsWith(RAW_MSG)) return this.options.onDeliver?.(s);
          const m = JSON.parse(s) as { t: string; id?: number };
          if (m.t === 'ack') return this.settleAck(m.id ?? 0, m);
          if (m.t === 'ready') return ok();
          this.count(m.t);
        });
        return;
      }
      ws.on('message', (data) => {
        const s = data.toString();
        const type = s.charCodeAt(0);
        if (type === 0x34 /* 4 message */) {
          if (s.startsWith(MESSAGE_NEW)) return this.options.onDeliver?.(s);
          const packet = s.charCodeAt(1);
          if (packet === 0x33 /* 3 ack */) {
            const open = s.indexOf('[', 2);
            return this.settleAck(Number(s.slice(2, open)), (JSON.parse(s.slice(open)) as unknown[])[0]);
          }
          if (packet === 0x32 /* 2 event */) {
            const open = s.indexOf('[', 2);
            const [event] = JSON.parse(s.slice(open)) as [string, unknown];
            if (event === 'session:ready' && dialect === 'switchboard') return ok();
            return this.count(event);
          }
          if (packet === 0x30 /* 0 connect */) {
            if (dialect === 'sio') ok();
            return;
          }
          if (packet === 0x34 /* 4 connect_error */) {
            const body = JSON.parse(s.slice(2)) as { message?: string; data?: { code?: string } };
            return fail(new ConnectError(body.message ?? 'connect_error', body.data?.code ?? 'CONNECT_ERROR'));
          }
          if (packet === 0x31 /* 1 disconnect */) {
            this.count('disconnect');
            ws.close();
          }
          return;
        }
        if (type === 0x32 /* 2 ping */) return ws.send('3');
        if (type === 0x30 /* 0 open */) return ws.send(`40${JSON.stringify(auth)}`);
        if (type === 0x31 /* 1 close */) ws.close();
      });
    });
  }

  /** Sends an event with an acknowledgement; resolves with the answer (the sweep rejects late ones). */
  call(event: string, payload: unknown): Promise<unknown> {
    const ws = this.ws;
    if (!ws || !this.live) return Promise.reject(new Error('not connected'));
    const id = this.nextAck++;
    if (this.nextAck > 1e15) this.nextAck = 1;
    return new Promise((resolve, reject) => {
      this.acks.set(id, { resolve, reject, at: Date.now() });
      if (this.options.dialect === 'raw') ws.send(JSON.stringify({ ...(payload as object), t: event, id }));
      else ws.send(`42${id}${JSON.stringify([event, payload])}`);
    });
  }

  /** Rejects acknowledgements older than `ms` (call it now and then instead of a timer per event). */
  sweep(ms: number, now = Date.now()): void {
    for (const [id, p] of this.acks) {
      // Map order is insertion order: the first young one ends the sweep.
      if (now - p.at < ms) break;
      this.acks.delete(id);
      p.reject(new Error('ack timed out'));
    }
  }

  /** Closes for good: no drop is reported. */
  close(): void {
    const ws = this.ws;
    this.ws = null;
    this.live = false;
    this.failAcks('closed');
    if (ws) {
      ws.removeAllListeners('close');
      ws.on('close', () => undefined);
      ws.on('error', () => undefined);
      ws.terminate();
    }
  }

  private dropped(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.ws = null;
    const was = this.live;
    this.live = false;
    this.failAcks('connection closed');
    if (was) this.options.onDrop?.();
  }

  private failAcks(why: string): void {
    if (this.acks.size === 0) return;
    const all = [...this.acks.values()];
    this.acks.clear();
    for (const p of all) p.reject(new Error(why));
  }

  private settleAck(id: number, answer: unknown): void {
    const p = this.acks.get(id);
    if (!p) return;
    this.acks.delete(id);
    p.resolve(answer);
  }

  private count(event: string): void {
    this.events.set(event, (this.events.get(event) ?? 0) + 1);
  }
}

/** Marks a message's content with its send time, so any process can time its arrival. */
export function stampedContent(bytes: number, now = wallClock()): string {
  const head = `~~${now.toFixed(3)}~~`;
  return head + 'x'.repeat(Math.max(0, bytes - head.length));
}

/** The send time stamped into a delivered frame, or NaN. */
export function stampOf(frame: string): number {
  const at = frame.indexOf('~~');
  if (at < 0) return Number.NaN;
  const end = frame.indexOf('~~', at + 2);
  return Number(frame.slice(at + 2, end));
}

/** Milliseconds since the epoch with sub-millisecond resolution, comparable between processes on one host. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/** Full-jitter exponential backoff: a random delay in [0, min(cap, base·2^attempt)). */
export function fullJitter(attempt: number, baseMs: number, capMs: number): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
}

import { io, type Socket } from 'socket.io-client';
import { Backoff, type BackoffOptions } from './backoff.js';
import { SwitchboardClientError } from './errors.js';
import { PROTOCOL_VERSION, type DisconnectCode, type Envelope, type ErrorBody, type InboxOffset, type ServerEventMap, type SessionReady } from './protocol.js';

/**
 * `idle`: not started. `connecting`: first handshake. `connected`: `session:ready` received.
 * `reconnecting`: waiting for or doing a new handshake after a loss. `disconnected`: down and
 * not coming back by itself (refused for good, or the server said not to reconnect).
 * `closed`: {@link Connection.close} was called.
 */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';

/** Why the connection went down. */
export interface DisconnectInfo {
  /** Socket.IO's reason (`transport close`, `io server disconnect`, `connect_error`…). */
  reason: string;
  /** The server's `session:disconnect` code, or the handshake's error code. */
  code?: DisconnectCode | ErrorBody['code'];
  /** Whether the SDK will reconnect by itself. */
  willReconnect: boolean;
}

/** Handshake refusals after which retrying cannot help (docs/protocol.md §1.3). */
const FATAL_HANDSHAKE = new Set(['AUTH_INVALID', 'AUTH_REQUIRED', 'PROTOCOL_UNSUPPORTED', 'VALIDATION_FAILED']);

export interface ConnectionOptions {
  url: string;
  /** Socket.IO path (default `/socket.io`). */
  path?: string;
  transports: ('websocket' | 'polling' | 'webtransport')[];
  deviceId?: string;
  /** The token for the next handshake; `fresh` asks for a new one (the last one expired). */
  token(fresh: boolean): Promise<string>;
  /** `auth.inbox` for the next handshake. */
  inbox(): { after?: InboxOffset };
  backoff?: BackoffOptions;
  /** How long one handshake may take (default 20 000 ms). */
  connectTimeoutMs?: number;
  state(state: ConnectionState, info?: DisconnectInfo): void;
  ready(session: SessionReady): void;
  reconnecting(attempt: number, delayMs: number): void;
  error(err: SwitchboardClientError): void;
}

/**
 * One Socket.IO connection kept up with our own reconnection: socket.io-client's is turned
 * off because its randomisation jitters around the delay (±50 %), not over all of it, and
 * because every handshake needs a fresh `auth` (token, inbox offset). Honours the server's
 * `session:disconnect` (`reconnect: false` → stay down; `TOKEN_EXPIRED` → new token first).
 */
export class Connection {
  readonly socket: Socket;
  private current: ConnectionState = 'idle';
  private readonly backoff: Backoff;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private lastDisconnect: ServerEventMap['session:disconnect'] | undefined;
  private needFreshToken = false;
  private everReady = false;
  private readonly waiters = new Set<{ resolve: () => void; reject: (e: SwitchboardClientError) => void }>();

  constructor(private readonly options: ConnectionOptions) {
    this.backoff = new Backoff(options.backoff);
    this.socket = io(options.url, {
      path: options.path,
      transports: options.transports,
      reconnection: false,
      autoConnect: false,
      forceNew: true,
      timeout: options.connectTimeoutMs ?? 20_000,
    });
    this.socket.on('session:ready', (env: Envelope<SessionReady>) => {
      this.everReady = true;
      this.backoff.reset();
      this.lastDisconnect = undefined;
      this.setState('connected');
      this.options.ready(env.payload.data);
      for (const w of [...this.waiters]) w.resolve();
      this.waiters.clear();
    });
    this.socket.on('session:disconnect', (env: Envelope<ServerEventMap['session:disconnect']>) => {
      this.lastDisconnect = env.payload.data;
    });
    this.socket.on('connect_error', (err: Error & { data?: ErrorBody }) => this.refused(err));
    this.socket.on('disconnect', (reason: string) => this.lost(reason));
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** Whether `session:ready` arrived on the current connection. */
  get ready(): boolean {
    return this.current === 'connected';
  }

  /** Starts connecting (no-op when already under way). */
  open(): void {
    if (this.current !== 'idle' && this.current !== 'disconnected') return;
    void this.attempt();
  }

  /** Resolves once connected; rejects with `DISCONNECTED` after `timeoutMs`, or `CLOSED`. */
  waitReady(timeoutMs?: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.current === 'closed') return Promise.reject(SwitchboardClientError.closed());
    return new Promise((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        this.waiters.delete(waiter);
        reject(SwitchboardClientError.disconnected('waiting for the connection'));
      }, timeoutMs);
      const waiter = {
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (e: SwitchboardClientError) => { clearTimeout(timer); reject(e); },
      };
      this.waiters.add(waiter);
    });
  }

  /** Closes for good: no reconnect; waiters reject with `CLOSED`. */
  close(): void {
    if (this.current === 'closed') return;
    clearTimeout(this.retryTimer);
    this.setState('closed');
    this.socket.disconnect();
    for (const w of [...this.waiters]) w.reject(SwitchboardClientError.closed());
    this.waiters.clear();
  }

  private async attempt(): Promise<void> {
    this.setState(this.everReady || this.backoff.attempts > 0 ? 'reconnecting' : 'connecting');
    let token: string;
    try {
      token = await this.options.token(this.needFreshToken);
    } catch (err) {
      const e = err instanceof SwitchboardClientError ? err : new SwitchboardClientError('AUTH_REQUIRED', `Could not get a token: ${err instanceof Error ? err.message : String(err)}`, true);
      this.options.error(e);
      if (e.retryable) this.schedule();
      else this.down({ reason: 'token', code: e.code === 'AUTH_EXPIRED' ? 'AUTH_EXPIRED' : 'AUTH_REQUIRED', willReconnect: false });
      return;
    }
    if (this.current === 'closed') return;
    this.needFreshToken = false;
    const auth: Record<string, unknown> = { token, v: PROTOCOL_VERSION, inbox: this.options.inbox() };
    if (this.options.deviceId !== undefined) auth.deviceId = this.options.deviceId;
    this.socket.auth = auth;
    this.socket.connect();
  }

  private refused(err: Error & { data?: ErrorBody }): void {
    if (this.current === 'closed') return;
    const code = err.data?.code;
    if (code === 'AUTH_EXPIRED') this.needFreshToken = true;
    const fatal = code !== undefined && FATAL_HANDSHAKE.has(code);
    this.options.error(err.data ? SwitchboardClientError.fromBody(err.data) : new SwitchboardClientError('UNAVAILABLE', err.message, true));
    if (fatal) this.down({ reason: 'connect_error', code, willReconnect: false });
    else this.schedule();
  }

  private lost(reason: string): void {
    if (this.current === 'closed') return;
    const said = this.lastDisconnect;
    this.lastDisconnect = undefined;
    // Only the server's own close carries its verdict; every other loss is worth a retry.
    const willReconnect = reason !== 'io server disconnect' || (said?.reconnect ?? true);
    if (said?.code === 'TOKEN_EXPIRED') this.needFreshToken = true;
    const info: DisconnectInfo = { reason, willReconnect };
    if (said) info.code = said.code;
    if (willReconnect) {
      this.setState('reconnecting', info);
      this.schedule();
    } else {
      this.down(info);
    }
  }

  private down(info: DisconnectInfo): void {
    this.setState('disconnected', info);
  }

  private schedule(): void {
    if (this.current === 'closed') return;
    clearTimeout(this.retryTimer);
    const delay = this.backoff.next();
    this.setState('reconnecting');
    this.options.reconnecting(this.backoff.attempts, delay);
    this.retryTimer = setTimeout(() => void this.attempt(), delay);
  }

  private setState(state: ConnectionState, info?: DisconnectInfo): void {
    if (state === this.current && info === undefined) return;
    this.current = state;
    this.options.state(state, info);
  }
}

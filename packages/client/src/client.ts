import type { Socket } from 'socket.io-client';
import { Connection, type ConnectionState } from './connection.js';
import { TypedEmitter } from './emitter.js';
import { SwitchboardClientError, toClientError } from './errors.js';
import { SERVER_EVENTS, type ClientEvents } from './events.js';
import { InboxSync } from './inbox-sync.js';
import type { ClientOptions } from './options.js';
import { Outbox, type OutboxEntry } from './outbox.js';
import type { Ack, ConversationId, Envelope, Message, MessageId, RequestMap, RequestName, ServerEventMap, SessionReady } from './protocol.js';
import { SwitchboardRequests } from './requests.js';
import { MemoryStorage, StorageWriter } from './storage.js';
import { TypingIndicator } from './typing.js';

/** Options of one {@link SwitchboardClient.send}. */
export interface SendOptions {
  type?: 'text' | 'media' | 'custom';
  metadata?: Record<string, unknown>;
  replyTo?: MessageId;
  /** Binary payload; kept in memory only, so it does not survive a restart of the app. */
  attachment?: Uint8Array | ArrayBuffer;
  /** Your own id for the message (default: a random UUID); a resend with the same id is stored once. */
  clientMessageId?: string;
}

/**
 * The Switchboard client: one connection kept up with full-jitter backoff, an outbox that
 * sends each message until the server has it, and an inbox that hands every message to the
 * app once and in order — across reconnects and, with a persistent `storage`, restarts.
 */
export class SwitchboardClient extends SwitchboardRequests {
  // A throwing handler is reported as an `error` event, unless it is an `error` handler itself (no loop).
  private readonly emitter: TypedEmitter<ClientEvents> = new TypedEmitter<ClientEvents>((err) => {
    if (!this.reportingError) this.fail(err);
  });
  private reportingError = false;
  private readonly connection: Connection;
  private readonly storage: StorageWriter;
  private readonly sync: InboxSync;
  private readonly outbox: Outbox;
  private readonly typingIndicator: TypingIndicator;
  private readonly loaded: Promise<void>;
  private readonly requestTimeoutMs: number;
  private token: string | undefined;
  private lastSession: SessionReady | undefined;
  private closed = false;

  constructor(private readonly options: ClientOptions) {
    super();
    const keys = { inbox: `${options.storageKey ?? 'switchboard'}:inbox`, outbox: `${options.storageKey ?? 'switchboard'}:outbox` };
    const store = options.storage ?? new MemoryStorage();
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.token = typeof options.token === 'string' ? options.token : undefined;
    this.storage = new StorageWriter(store, (err) => this.fail(err));
    this.connection = new Connection({
      url: options.url,
      path: options.path,
      transports: options.transports ?? ['websocket', 'polling'],
      deviceId: options.deviceId,
      token: (fresh) => this.getToken(fresh),
      inbox: () => this.sync.handshake(),
      backoff: options.reconnectBackoff,
      connectTimeoutMs: options.connectTimeoutMs,
      state: (state, info) => {
        this.emitter.emit('state', state);
        if (state === 'connecting') this.emitter.emit('connecting');
        if (info) {
          this.typingIndicator.reset();
          this.emitter.emit('disconnected', info);
        }
      },
      ready: (session) => this.onReady(session),
      reconnecting: (attempt, delayMs) => this.emitter.emit('reconnecting', { attempt, delayMs }),
      error: (err) => this.fail(err),
    });
    this.sync = new InboxSync({
      storage: this.storage,
      key: keys.inbox,
      request: (event, payload) => this.request(event, payload),
      connected: () => this.connection.ready,
      message: (m, source) => this.emitter.emit('message', m, source),
      event: (name, envelope) => this.dispatch(name, envelope),
      skipped: (conversationId, seqs) => this.emitter.emit('messages:skipped', { conversationId, seqs }),
      error: (err) => this.fail(err),
      ackIntervalMs: options.ackIntervalMs ?? 100,
      gapTimeoutMs: options.gapTimeoutMs ?? 10_000,
      historyPageSize: options.historyPageSize ?? 100,
    });
    this.outbox = new Outbox({
      transmit: (entry) => this.request('message:send', toSendPayload(entry), options.sendTimeoutMs ?? 10_000),
      ready: () => this.connection.waitReady(),
      persist: (entries) => void this.storage.write(keys.outbox, entries),
      sent: (_entry, result) => {
        this.sync.sent(result.message);
        this.emitter.emit('sent', result);
      },
      failed: (entry, error) => this.emitter.emit('send:failed', { entry, error }),
      backoff: options.sendBackoff,
    });
    this.typingIndicator = new TypingIndicator((event, conversationId) => {
      if (this.connection.ready) this.connection.socket.emit(event, { conversationId });
    }, options.typing);
    this.connection.socket.onAny((name: string, envelope: Envelope) => {
      if (isEnvelope(envelope)) this.sync.receive(name, envelope);
    });
    // A storage that cannot be read is reported, and the client starts as a new device.
    this.loaded = Promise.resolve()
      .then(() => Promise.all([store.get(keys.inbox), store.get(keys.outbox)]))
      .then(([inbox, outbox]) => {
        this.sync.restore(inbox);
        this.outbox.restore(outbox);
      })
      .catch((err: unknown) => this.fail(err));
    // Failures of the automatic connect are reported as `error`/`disconnected` events; closing rejects it by design.
    if (options.autoConnect !== false) this.connect().catch(() => undefined);
  }

  /** Listens to an event (see {@link ClientEvents}); returns a function that stops listening. */
  on<K extends keyof ClientEvents>(event: K, handler: (...args: ClientEvents[K]) => void): () => void {
    return this.emitter.on(event, handler);
  }

  /** Listens to the next occurrence of an event only. */
  once<K extends keyof ClientEvents>(event: K, handler: (...args: ClientEvents[K]) => void): () => void {
    return this.emitter.once(event, handler);
  }

  off<K extends keyof ClientEvents>(event: K, handler: (...args: ClientEvents[K]) => void): void {
    this.emitter.off(event, handler);
  }

  /** Where the connection stands. */
  get state(): ConnectionState {
    return this.connection.state;
  }

  /** The last `session:ready` (who and where this client is), once connected. */
  get session(): SessionReady | undefined {
    return this.lastSession;
  }

  /** The underlying socket.io-client socket, for diagnostics; do not connect or close it yourself. */
  get socket(): Socket {
    return this.connection.socket;
  }

  /** Connects (after loading storage); a no-op while connecting or connected. Resolves when the connection is up. */
  async connect(timeoutMs?: number): Promise<void> {
    await this.loaded;
    if (this.closed) throw SwitchboardClientError.closed();
    this.connection.open();
    await this.connection.waitReady(timeoutMs);
  }

  /**
   * Sends a message. It goes to the outbox at once (and to storage), and is sent, and sent
   * again, until the server accepted it; resolves with the stored message. Rejects only on
   * a non-retryable error (e.g. `NOT_A_MEMBER`) or when the client is closed.
   */
  async send(conversationId: ConversationId, content: string, options: SendOptions = {}): Promise<Message> {
    await this.loaded;
    const entry: OutboxEntry = { conversationId, content, clientMessageId: options.clientMessageId ?? randomId(), queuedAt: Date.now() };
    if (options.type !== undefined) entry.type = options.type;
    if (options.metadata !== undefined) entry.metadata = options.metadata;
    if (options.replyTo !== undefined) entry.replyTo = options.replyTo;
    if (options.attachment !== undefined) entry.attachment = options.attachment;
    this.typingIndicator.sent(conversationId);
    return (await this.outbox.enqueue(entry)).message;
  }

  /** Messages queued and not yet accepted by the server. */
  pendingMessages(): OutboxEntry[] {
    return this.outbox.pending();
  }

  /** Call on each keystroke: sends a throttled `typing:start`, and `typing:stop` after a pause. */
  typing(conversationId: ConversationId): void {
    this.typingIndicator.typing(conversationId);
  }

  /** Ends the typing indicator now. */
  stopTyping(conversationId: ConversationId): void {
    this.typingIndicator.stop(conversationId);
  }

  /** @inheritDoc */
  async request<E extends RequestName>(event: E, payload: RequestMap[E]['payload'], timeoutMs = this.requestTimeoutMs): Promise<RequestMap[E]['answer']> {
    if (!this.connection.ready) await this.connection.waitReady(timeoutMs);
    let ack: Ack<RequestMap[E]['answer']>;
    try {
      ack = (await this.connection.socket.timeout(timeoutMs).emitWithAck(event, payload)) as Ack<RequestMap[E]['answer']>;
    } catch (err) {
      throw err instanceof Error && /timed out/.test(err.message) ? SwitchboardClientError.timeout(event) : SwitchboardClientError.disconnected(event);
    }
    if (!ack.ok) throw SwitchboardClientError.fromBody(ack.error);
    return ack.data;
  }

  /**
   * Closes for good: flushes the inbox acknowledgement and storage, then disconnects.
   * Pending sends reject with `CLOSED` but stay in storage for the next client.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.typingIndicator.reset();
    await this.loaded;
    await this.sync.close();
    this.outbox.close();
    this.connection.close();
    await this.storage.flush();
  }

  protected roomCreated(conversationId: ConversationId): void {
    this.sync.baseline(conversationId, 0);
  }

  private onReady(session: SessionReady): void {
    this.lastSession = session;
    this.emitter.emit('connected', session);
    this.outbox.wake();
    if (this.presenceSubscriptions.size > 0) {
      // Subscriptions belong to a connection (§5.16): the new one must ask again.
      this.subscribePresence([...this.presenceSubscriptions]).catch((err: unknown) => this.fail(err));
    }
  }

  private dispatch(name: string, envelope: Envelope): void {
    if (!SERVER_EVENTS.has(name)) {
      this.emitter.emit('push', { event: name, data: envelope.payload.data, envelope });
      return;
    }
    const emit = this.emitter.emit.bind(this.emitter) as (event: string, data: unknown, envelope: Envelope) => void;
    emit(name, envelope.payload.data, envelope);
    if (name === 'inbox:synced') {
      const data = envelope.payload.data as ServerEventMap['inbox:synced'];
      this.emitter.emit('synced', data);
      this.sync.synced(data).catch((err: unknown) => this.fail(err));
    } else if (name === 'auth:expiring') {
      this.refresh().catch((err: unknown) => this.fail(err));
    } else if (name === 'server:error') {
      this.fail(SwitchboardClientError.fromBody((envelope.payload.data as ServerEventMap['server:error']).error));
    }
  }

  private async refresh(): Promise<void> {
    const token = await this.getToken(true);
    this.emitter.emit('token:refreshed', await this.request('auth:refresh', { token }));
  }

  private async getToken(fresh: boolean): Promise<string> {
    const { token, refreshToken } = this.options;
    if (fresh && refreshToken) this.token = await refreshToken();
    else if (typeof token === 'function') this.token = await token();
    else if (fresh) throw new SwitchboardClientError('AUTH_EXPIRED', 'The token expired and there is no refreshToken to get a new one', false);
    if (this.token === undefined) throw new SwitchboardClientError('AUTH_REQUIRED', 'No token', false);
    return this.token;
  }

  private fail(err: unknown): void {
    this.reportingError = true;
    try {
      this.emitter.emit('error', toClientError(err));
    } finally {
      this.reportingError = false;
    }
  }
}

/** Creates a client; it connects at once unless `autoConnect` is false. */
export function createClient(options: ClientOptions): SwitchboardClient {
  return new SwitchboardClient(options);
}

function toSendPayload(entry: OutboxEntry): RequestMap['message:send']['payload'] {
  const { queuedAt: _queuedAt, ...payload } = entry;
  return payload;
}

function isEnvelope(value: unknown): value is Envelope {
  return typeof value === 'object' && value !== null && typeof (value as Envelope).payload === 'object' && (value as Envelope).payload !== null;
}

/**
 * An id for `clientMessageId`: a UUIDv7 (RFC 9562) where the platform has a random source,
 * whose first 48 bits are the time in milliseconds. Ids in time order are cheaper for the
 * server to keep unique than random ones: new ones go to the end of its index together.
 */
function randomId(): string {
  const c = (globalThis as { crypto?: { getRandomValues?: (bytes: Uint8Array) => Uint8Array } }).crypto;
  if (!c?.getRandomValues) return `${Date.now().toString(36).padStart(9, '0')}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
  const bytes = c.getRandomValues(new Uint8Array(16));
  const ms = Date.now();
  for (let i = 0; i < 6; i++) bytes[i] = Math.floor(ms / 2 ** (8 * (5 - i))) % 256;
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

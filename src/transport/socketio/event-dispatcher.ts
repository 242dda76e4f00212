import type { DefaultEventsMap, Socket } from 'socket.io';
import { SwitchboardError, toErrorBody } from '../../domain/errors.js';
import type { Ack } from '../../domain/protocol/envelope.js';
import type { EnvelopeFactory } from '../../core/routing/envelopes.js';
import type { TrafficStats } from '../../core/api/traffic-stats.js';
import type { LocalDelivery } from '../../ports/local-delivery.js';
import type { Logger } from '../../ports/logger.js';
import type { Clock } from '../../ports/system.js';
import type { EventDefinition, LimitClass } from './event-registry.js';
import type { CoreServices } from './handler-context.js';
import { TokenBucket, type RateLimit } from './rate-limiter.js';
import type { SocketData } from './socket-data.js';

export interface DispatcherOptions {
  /** Largest JSON payload of one event, binary attachments not counted. */
  maxEventBytes: number;
  rateLimits: Record<LimitClass, RateLimit>;
  /** Rejected events (rate limit, validation, size, unknown) tolerated per 10 s before the socket is closed for POLICY_VIOLATION. */
  maxRejections: number;
}

export interface DispatcherDeps {
  registry: ReadonlyMap<string, EventDefinition>;
  core: CoreServices;
  delivery: LocalDelivery;
  envelopes: EnvelopeFactory;
  stats: TrafficStats;
  clock: Clock;
  logger: Logger;
  options: DispatcherOptions;
}

type Reply = (body: Ack) => void;

const REJECTION_WINDOW_MS = 10_000;

/**
 * Handles every event a socket sends: known event, ack present when required, size,
 * rate, schema, then the handler. Every outcome is answered with the documented ack
 * (or a `server:error` event when the client gave no callback); the socket stays usable.
 * `deps` is shared by every socket: create it once.
 */
export function attachDispatcher(socket: DispatchedSocket, deps: DispatcherDeps): void {
  const dispatcher = new SocketDispatcher(socket, deps);
  // All events are handled here; `next` is never called, so no other listener sees raw input.
  socket.use((packet) => {
    void dispatcher.dispatch(packet);
  });
}

type DispatchedSocket = Socket<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;

/** One per socket, so it holds only the socket's own state; the methods live on the prototype. */
class SocketDispatcher {
  /** Token buckets by limit class, created with the socket's first event of the class. */
  private buckets: Map<LimitClass, TokenBucket> | null = null;
  /** Start of the current rejection window; 0 until the first rejection opens one. */
  private windowStart = 0;
  private rejections = 0;

  constructor(
    private readonly socket: DispatchedSocket,
    private readonly deps: DispatcherDeps,
  ) {}

  async dispatch(packet: unknown[]): Promise<void> {
    const { registry, core, stats, clock, logger, options } = this.deps;
    // The session is the principal (tenant, user, device) and more.
    const { session } = this.socket.data;
    stats.record('incoming');
    const args = [...packet];
    const event = typeof args[0] === 'string' ? args.shift() as string : '';
    const reply = typeof args[args.length - 1] === 'function' ? (args.pop() as Reply) : undefined;
    const def = registry.get(event);
    if (!def) return this.reject(event, new SwitchboardError('UNKNOWN_EVENT', `Unknown event '${event.slice(0, 64)}'`, { event: event.slice(0, 64) }), reply);
    if (def.requiresAck && !reply) return this.reject(event, new SwitchboardError('ACK_REQUIRED', `'${event}' must be sent with an acknowledgement callback`), undefined);
    if (args.length > 1) return this.reject(event, new SwitchboardError('VALIDATION_FAILED', 'Send a single payload object', [{ field: '(root)', message: 'expected one argument' }]), reply);
    const payload = args[0];
    const bytes = jsonBytes(payload);
    if (bytes > options.maxEventBytes) {
      return this.reject(event, new SwitchboardError('PAYLOAD_TOO_LARGE', `Event payloads are limited to ${options.maxEventBytes} bytes`, { limit: options.maxEventBytes, size: bytes }), reply);
    }
    this.buckets ??= new Map();
    let bucket = this.buckets.get(def.limit);
    if (!bucket) {
      bucket = new TokenBucket(options.rateLimits[def.limit], clock.now());
      this.buckets.set(def.limit, bucket);
    }
    const waitMs = bucket.take(clock.now());
    if (waitMs > 0) return this.reject(event, new SwitchboardError('RATE_LIMITED', undefined, { retryAfterMs: waitMs, limit: def.limit }), reply);
    try {
      const data = await def.handle({ principal: session, socketId: session.socketId, core }, payload);
      this.answer(event, { ok: true, data }, reply);
    } catch (err) {
      if (!(err instanceof SwitchboardError)) logger.error({ err, event, socketId: this.socket.id }, 'event handler failed');
      if (err instanceof SwitchboardError && (err.code === 'VALIDATION_FAILED' || err.code === 'PAYLOAD_TOO_LARGE')) return this.reject(event, err, reply);
      stats.record('errors');
      this.answer(event, { ok: false, error: toErrorBody(err, new Date(clock.now())) }, reply);
    }
  }

  private reject(event: string, err: SwitchboardError, reply: Reply | undefined): void {
    const { stats, clock, logger, options, delivery } = this.deps;
    stats.record('errors');
    const now = clock.now();
    if (now - this.windowStart > REJECTION_WINDOW_MS) {
      this.windowStart = now;
      this.rejections = 0;
    }
    this.rejections += 1;
    this.answer(event, { ok: false, error: toErrorBody(err, new Date(now)) }, reply);
    if (this.rejections > options.maxRejections) {
      const { session } = this.socket.data;
      logger.warn({ socketId: this.socket.id, userId: session.userId, rejections: this.rejections }, 'too many rejected events; closing connection');
      delivery.disconnect([session.socketId], 'POLICY_VIOLATION');
    }
  }

  private answer(event: string, body: Ack, reply: Reply | undefined): void {
    if (reply) {
      reply(body);
    } else if (!body.ok) {
      const env = this.deps.envelopes.create(this.socket.data.session.tenantId, 'error', 'server:error', { event, error: body.error });
      this.socket.emit('server:error', env);
    }
  }
}

/** Size of the JSON part of a payload; binary attachments are measured separately. */
function jsonBytes(payload: unknown): number {
  if (payload === undefined) return 0;
  const json = JSON.stringify(payload, function (this: Record<string, unknown>, key, value: unknown) {
    return this[key] instanceof Uint8Array ? null : value;
  });
  return json === undefined ? 0 : Buffer.byteLength(json);
}

import type { DefaultEventsMap, Socket } from 'socket.io';
import { SwitchboardError, toErrorBody } from '../../domain/errors.js';
import type { Principal } from '../../domain/model.js';
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
 */
export function attachDispatcher(socket: Socket<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>, deps: DispatcherDeps): void {
  const { registry, core, envelopes, stats, clock, logger, options } = deps;
  const { session } = socket.data;
  const principal: Principal = { tenantId: session.tenantId, userId: session.userId, deviceId: session.deviceId };
  const buckets = new Map<LimitClass, TokenBucket>();
  let windowStart = clock.now();
  let rejections = 0;

  const reject = (event: string, err: SwitchboardError, reply: Reply | undefined): void => {
    stats.record('errors');
    const now = clock.now();
    if (now - windowStart > REJECTION_WINDOW_MS) {
      windowStart = now;
      rejections = 0;
    }
    rejections += 1;
    answer(event, { ok: false, error: toErrorBody(err, new Date(now)) }, reply);
    if (rejections > options.maxRejections) {
      logger.warn({ socketId: socket.id, userId: principal.userId, rejections }, 'too many rejected events; closing connection');
      deps.delivery.disconnect([session.socketId], 'POLICY_VIOLATION');
    }
  };

  const answer = (event: string, body: Ack, reply: Reply | undefined): void => {
    if (reply) {
      reply(body);
    } else if (!body.ok) {
      const env = envelopes.create(principal.tenantId, 'error', 'server:error', { event, error: body.error });
      socket.emit('server:error', env);
    }
  };

  const dispatch = async (packet: unknown[]): Promise<void> => {
    stats.record('incoming');
    const args = [...packet];
    const event = typeof args[0] === 'string' ? args.shift() as string : '';
    const reply = typeof args[args.length - 1] === 'function' ? (args.pop() as Reply) : undefined;
    const def = registry.get(event);
    if (!def) return reject(event, new SwitchboardError('UNKNOWN_EVENT', `Unknown event '${event.slice(0, 64)}'`, { event: event.slice(0, 64) }), reply);
    if (def.requiresAck && !reply) return reject(event, new SwitchboardError('ACK_REQUIRED', `'${event}' must be sent with an acknowledgement callback`), undefined);
    if (args.length > 1) return reject(event, new SwitchboardError('VALIDATION_FAILED', 'Send a single payload object', [{ field: '(root)', message: 'expected one argument' }]), reply);
    const payload = args[0];
    const bytes = jsonBytes(payload);
    if (bytes > options.maxEventBytes) {
      return reject(event, new SwitchboardError('PAYLOAD_TOO_LARGE', `Event payloads are limited to ${options.maxEventBytes} bytes`, { limit: options.maxEventBytes, size: bytes }), reply);
    }
    let bucket = buckets.get(def.limit);
    if (!bucket) {
      bucket = new TokenBucket(options.rateLimits[def.limit], clock.now());
      buckets.set(def.limit, bucket);
    }
    const waitMs = bucket.take(clock.now());
    if (waitMs > 0) return reject(event, new SwitchboardError('RATE_LIMITED', undefined, { retryAfterMs: waitMs, limit: def.limit }), reply);
    try {
      const data = await def.handle({ principal, socketId: session.socketId, core }, payload);
      answer(event, { ok: true, data }, reply);
    } catch (err) {
      if (!(err instanceof SwitchboardError)) logger.error({ err, event, socketId: socket.id }, 'event handler failed');
      if (err instanceof SwitchboardError && (err.code === 'VALIDATION_FAILED' || err.code === 'PAYLOAD_TOO_LARGE')) return reject(event, err, reply);
      stats.record('errors');
      answer(event, { ok: false, error: toErrorBody(err, new Date(clock.now())) }, reply);
    }
  };

  // All events are handled here; `next` is never called, so no other listener sees raw input.
  socket.use((packet) => {
    void dispatch(packet);
  });
}

/** Size of the JSON part of a payload; binary attachments are measured separately. */
function jsonBytes(payload: unknown): number {
  if (payload === undefined) return 0;
  const json = JSON.stringify(payload, function (this: Record<string, unknown>, key, value: unknown) {
    return this[key] instanceof Uint8Array ? null : value;
  });
  return json === undefined ? 0 : Buffer.byteLength(json);
}

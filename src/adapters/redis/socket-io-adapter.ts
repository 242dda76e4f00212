import { createShardedAdapter } from '@socket.io/redis-adapter';
import type { Logger } from '../../ports/logger.js';

type AdapterConstructor = ReturnType<typeof createShardedAdapter>;

export interface SocketIoRedisAdapter {
  /** For `io.adapter(...)`. */
  adapter: AdapterConstructor;
  /**
   * Subscribes every wanted topic again: after a Redis Cluster failover the subscriptions
   * held by the lost master are gone, and the client does not move them by itself.
   */
  resubscribe(): void;
  /** Resolves once every subscription change the adapter started so far has finished. */
  settle(): Promise<void>;
  /** False while a topic subscription that failed has not been made good by a retry yet. */
  healthy(): boolean;
  /** Stops retrying failed subscriptions (before the connections close). */
  close(): void;
}

const GUARDED = new Set<PropertyKey>(['sSubscribe', 'sUnsubscribe']);

/** Backoff of the retries of a failed topic subscription: 250 ms doubling up to 2 s. */
const retryDelay = (attempt: number): number => Math.min(250 * 2 ** attempt, 2000);

/**
 * Socket.IO's sharded Redis adapter (SPUBLISH/SSUBSCRIBE, Redis 7+, single node or
 * Cluster), in dynamic mode: a server subscribes to a topic's channel only while one of its
 * sockets is in the topic. The adapter starts (un)subscriptions without awaiting them, so
 * while Redis is away each one would surface as an unhandled rejection, and at shutdown one
 * still running could outlive the connection. The subscriber handed to it therefore logs
 * their failures and keeps them in sight until they finish.
 *
 * The adapter subscribes once, when a topic gets its first local socket, and never again.
 * A subscription that failed (Redis was down) is therefore retried, with backoff and at
 * once when the subscriber connection is ready again, until it holds or the topic is
 * unsubscribed; otherwise a topic first joined during an outage would stay deaf to the rest
 * of the cluster after Redis is back. The Redis client itself renews the subscriptions that
 * did hold when it reconnects.
 */
export function createSocketIoRedisAdapter(pubClient: object, subClient: object, logger: Logger): SocketIoRedisAdapter {
  const pending = new Set<Promise<unknown>>();
  /** The channels the adapter currently wants, with the call that subscribes them; a retry only runs while its channel is here. */
  const wanted = new Map<string, () => Promise<boolean>>();
  /** Channels whose last subscription attempt failed, with what it takes to try again. */
  const failing = new Map<string, () => void>();
  const retries = new Map<string, NodeJS.Timeout>();
  let closed = false;

  const call = (target: object, method: (...args: unknown[]) => unknown, prop: string, args: unknown[]): Promise<boolean> => {
    const done = Promise.resolve()
      .then(() => method.apply(target, args))
      .then(
        () => true,
        (err: unknown) => {
          logger.warn({ err, op: prop, channel: args[0] }, 'topic subscription change failed');
          return false;
        },
      )
      .finally(() => pending.delete(done));
    pending.add(done);
    return done;
  };

  const subscribe = (target: object, method: (...args: unknown[]) => unknown, args: unknown[], attempt: number): Promise<boolean> => {
    const channel = String(args[0]);
    return call(target, method, 'sSubscribe', args).then((held) => {
      clearTimeout(retries.get(channel));
      retries.delete(channel);
      if (held || closed || !wanted.has(channel)) {
        failing.delete(channel);
        return held;
      }
      const retry = () => {
        clearTimeout(retries.get(channel));
        retries.delete(channel);
        if (!closed && wanted.has(channel)) void subscribe(target, method, args, attempt + 1);
      };
      failing.set(channel, retry);
      const timer = setTimeout(retry, retryDelay(attempt));
      timer.unref();
      retries.set(channel, timer);
      return held;
    });
  };

  const guardedSub = new Proxy(subClient, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || prop === 'constructor') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (!GUARDED.has(prop)) return method.bind(target);
      return (...args: unknown[]) => {
        const channel = String(args[0]);
        if (prop === 'sSubscribe') {
          const again = () => subscribe(target, method, args, 0);
          wanted.set(channel, again);
          return again();
        }
        wanted.delete(channel);
        failing.delete(channel);
        clearTimeout(retries.get(channel));
        retries.delete(channel);
        return call(target, method, String(prop), args);
      };
    },
  });
  const events = subClient as { on?: (event: string, listener: () => void) => unknown };
  // A single client says when it is back; a Cluster client does not, and relies on the backoff.
  events.on?.call(subClient, 'ready', () => {
    for (const retry of [...failing.values()]) retry();
  });
  return {
    adapter: createShardedAdapter(pubClient, guardedSub, { subscriptionMode: 'dynamic' }),
    healthy: () => failing.size === 0,
    resubscribe() {
      for (const again of wanted.values()) void again();
    },
    async settle() {
      await Promise.allSettled([...pending]);
    },
    close() {
      closed = true;
      for (const t of retries.values()) clearTimeout(t);
      retries.clear();
      failing.clear();
    },
  };
}

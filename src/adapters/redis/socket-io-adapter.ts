import { createShardedAdapter } from '@socket.io/redis-adapter';
import type { Logger } from '../../ports/logger.js';

type AdapterConstructor = ReturnType<typeof createShardedAdapter>;

export interface SocketIoRedisAdapter {
  /** For `io.adapter(...)`. */
  adapter: AdapterConstructor;
  /** Resolves once every subscription change the adapter started so far has finished. */
  settle(): Promise<void>;
}

const GUARDED = new Set<PropertyKey>(['sSubscribe', 'sUnsubscribe']);

/**
 * Socket.IO's sharded Redis adapter (SPUBLISH/SSUBSCRIBE, Redis 7+, single node or
 * Cluster), in dynamic mode: a server subscribes to a topic's channel only while one of its
 * sockets is in the topic. The adapter starts (un)subscriptions without awaiting them, so
 * while Redis is away each one would surface as an unhandled rejection, and at shutdown one
 * still running could outlive the connection. The subscriber handed to it therefore logs
 * their failures and keeps them in sight until they finish.
 */
export function createSocketIoRedisAdapter(pubClient: object, subClient: object, logger: Logger): SocketIoRedisAdapter {
  const pending = new Set<Promise<unknown>>();
  const guardedSub = new Proxy(subClient, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || prop === 'constructor') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (!GUARDED.has(prop)) return method.bind(target);
      return (...args: unknown[]) => {
        const call = Promise.resolve()
          .then(() => method.apply(target, args))
          .catch((err: unknown) => logger.warn({ err, op: String(prop), channel: args[0] }, 'topic subscription change failed'))
          .finally(() => pending.delete(call));
        pending.add(call);
        return call;
      };
    },
  });
  return {
    adapter: createShardedAdapter(pubClient, guardedSub, { subscriptionMode: 'dynamic' }),
    async settle() {
      await Promise.allSettled([...pending]);
    },
  };
}

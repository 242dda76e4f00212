import type { Server } from 'socket.io';
import { MemoryClusterBus } from '../adapters/memory/memory-cluster-bus.js';
import { MemoryConnectionRegistry } from '../adapters/memory/memory-connection-registry.js';
import { MemoryPresenceStore } from '../adapters/memory/memory-presence-store.js';
import { MemoryServerDirectory } from '../adapters/memory/memory-server-directory.js';
import type { RedisConnections } from '../adapters/redis/redis-connection.js';
import type { ClusterBus } from '../ports/cluster-bus.js';
import type { ConnectionRegistry } from '../ports/connection-registry.js';
import type { Logger } from '../ports/logger.js';
import type { PresenceStore } from '../ports/presence-store.js';
import type { ServerDirectory } from '../ports/server-directory.js';
import type { Config } from './config.js';

/** What joins servers into one cluster: shared registry, presence, liveness, and a bus. */
export interface ClusterBackend {
  registry: ConnectionRegistry;
  presence: PresenceStore;
  bus: ClusterBus;
  directory: ServerDirectory;
  /** The Redis connections, for the other parts that live in Redis (inboxes, sequencer, log). */
  redis: RedisConnections | null;
  /** Installs the Socket.IO adapter that carries topic broadcasts between servers. */
  attach(io: Server): void;
  /** Resolves once the topic subscriptions the adapter started are in place. */
  topicsReady(): Promise<void>;
  /** Called after the backend reconnects, so the server can re-register what it holds. */
  onReconnect(listener: () => void): void;
  /** The backend is reachable and every topic subscription is in place (readiness). */
  healthy(): boolean;
  close(): Promise<void>;
}

/** The one place that picks the cluster backend. */
export async function createClusterBackend(config: Config, logger: Logger): Promise<ClusterBackend> {
  const cluster = config.cluster;
  switch (cluster.kind) {
    case 'memory':
      return {
        registry: new MemoryConnectionRegistry(),
        presence: new MemoryPresenceStore(),
        bus: new MemoryClusterBus(),
        directory: new MemoryServerDirectory(config.liveness.serverTtlMs),
        redis: null,
        attach: () => undefined,
        topicsReady: async () => undefined,
        onReconnect: () => undefined,
        healthy: () => true,
        close: async () => undefined,
      };
    case 'redis': {
      // Loaded only when configured: the Redis client and adapter take ~0.15 s of a start.
      const [{ connectRedis }, { RedisClusterBus }, { RedisConnectionRegistry }, { RedisPresenceStore }, { RedisServerDirectory }, { createSocketIoRedisAdapter }] = await Promise.all([
        import('../adapters/redis/redis-connection.js'),
        import('../adapters/redis/redis-cluster-bus.js'),
        import('../adapters/redis/redis-connection-registry.js'),
        import('../adapters/redis/redis-presence-store.js'),
        import('../adapters/redis/redis-server-directory.js'),
        import('../adapters/redis/socket-io-adapter.js'),
      ]);
      const redis = await connectRedis(cluster, logger);
      const bus = new RedisClusterBus(redis.pubsub, logger);
      const topics = createSocketIoRedisAdapter(redis.pubClient, redis.subClient, logger);
      redis.onReconnect(() => {
        topics.resubscribe();
        bus.resubscribe().catch((err: unknown) => logger.warn({ err }, 'could not subscribe the server channel again'));
      });
      return {
        registry: new RedisConnectionRegistry(redis.commands),
        presence: new RedisPresenceStore(redis.commands),
        bus,
        directory: new RedisServerDirectory(redis.commands, config.liveness.serverTtlMs),
        redis,
        attach: (io) => io.adapter(topics.adapter),
        topicsReady: () => topics.settle(),
        onReconnect: (listener) => redis.onReconnect(listener),
        healthy: () => redis.healthy() && topics.healthy(),
        close: async () => {
          topics.close();
          await topics.settle();
          await bus.close();
          await redis.close();
        },
      };
    }
    default: {
      const unknown: never = cluster;
      throw new Error(`Unknown cluster backend '${JSON.stringify(unknown)}'`);
    }
  }
}

import { beforeEach, describe } from 'node:test';
import { MemoryClusterBus } from '../../src/adapters/memory/memory-cluster-bus.js';
import { MemoryConnectionRegistry } from '../../src/adapters/memory/memory-connection-registry.js';
import { MemoryPresenceStore } from '../../src/adapters/memory/memory-presence-store.js';
import { MemoryServerDirectory } from '../../src/adapters/memory/memory-server-directory.js';
import { RedisClusterBus } from '../../src/adapters/redis/redis-cluster-bus.js';
import { RedisConnectionRegistry } from '../../src/adapters/redis/redis-connection-registry.js';
import { RedisPresenceStore } from '../../src/adapters/redis/redis-presence-store.js';
import { RedisServerDirectory } from '../../src/adapters/redis/redis-server-directory.js';
import { clusterBusContract } from './cluster-bus.contract.js';
import { connectionRegistryContract } from './connection-registry.contract.js';
import { presenceStoreContract } from './presence-store.contract.js';
import { redisFixture } from './redis-fixture.js';
import { serverDirectoryContract } from './server-directory.contract.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('in memory', () => {
  connectionRegistryContract('memory', async () => new MemoryConnectionRegistry());
  presenceStoreContract('memory', async () => new MemoryPresenceStore());
  serverDirectoryContract('memory', async (ttl) => new MemoryServerDirectory(ttl));
  clusterBusContract('memory', async () => {
    const hub = new MemoryClusterBus();
    return [hub, hub];
  });
});

describe('on a real redis-server', () => {
  const redis = redisFixture();
  beforeEach(() => redis.flush());
  connectionRegistryContract('redis', async () => new RedisConnectionRegistry((await redis.connect()).commands));
  presenceStoreContract('redis', async () => new RedisPresenceStore((await redis.connect()).commands));
  serverDirectoryContract('redis', async (ttl) => new RedisServerDirectory((await redis.connect()).commands, ttl));
  clusterBusContract('redis', async () => {
    const [a, b] = await Promise.all([redis.connect(), redis.connect()]);
    return [new RedisClusterBus(a.pubsub, quiet), new RedisClusterBus(b.pubsub, quiet)];
  });
});

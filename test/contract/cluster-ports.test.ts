import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { createClient } from 'redis';
import { MemoryClusterBus } from '../../src/adapters/memory/memory-cluster-bus.js';
import { MemoryConnectionRegistry } from '../../src/adapters/memory/memory-connection-registry.js';
import { MemoryPresenceStore } from '../../src/adapters/memory/memory-presence-store.js';
import { MemoryServerDirectory } from '../../src/adapters/memory/memory-server-directory.js';
import { RedisClusterBus } from '../../src/adapters/redis/redis-cluster-bus.js';
import { RedisConnectionRegistry } from '../../src/adapters/redis/redis-connection-registry.js';
import { RedisPresenceStore } from '../../src/adapters/redis/redis-presence-store.js';
import { RedisServerDirectory } from '../../src/adapters/redis/redis-server-directory.js';
import { keys } from '../../src/adapters/redis/redis-keys.js';
import { asDeviceId, asServerId, asSocketId, asTenantId, asUserId } from '../../src/domain/ids.js';
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
  it('stores a connection registered as a whole session with the registry fields only', async () => {
    const registry = new RedisConnectionRegistry((await redis.connect()).commands);
    const connection = { socketId: asSocketId('s1'), serverId: asServerId('srv'), tenantId: asTenantId('acme'), userId: asUserId('alice'), deviceId: asDeviceId('phone'), connectedAt: '2026-11-30T10:00:00.000Z' };
    // What a server registers: its session, of which the connection is a part.
    const session = { ...connection, userAgent: 'Mozilla/5.0', ip: '127.0.0.1', transport: 'websocket', expiresAt: null, inbox: null };
    await registry.register(session);
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const stored = await client.hGetAll(keys.connections(connection.tenantId, connection.userId));
      assert.deepEqual(Object.keys(stored), ['s1']);
      assert.deepEqual(JSON.parse(stored.s1!), connection);
    } finally {
      await client.close();
    }
    assert.deepEqual(await registry.connectionsOf(connection.tenantId, [connection.userId]), [connection]);
  });
  presenceStoreContract('redis', async () => new RedisPresenceStore((await redis.connect()).commands));
  serverDirectoryContract('redis', async (ttl) => new RedisServerDirectory((await redis.connect()).commands, ttl));
  clusterBusContract('redis', async () => {
    const [a, b] = await Promise.all([redis.connect(), redis.connect()]);
    return [new RedisClusterBus(a.pubsub, quiet), new RedisClusterBus(b.pubsub, quiet)];
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connectRedis } from '../../src/adapters/redis/redis-connection.js';
import { RedisConnectionRegistry } from '../../src/adapters/redis/redis-connection-registry.js';
import { RedisServerDirectory } from '../../src/adapters/redis/redis-server-directory.js';
import { ServerLiveness } from '../../src/core/cluster/server-liveness.js';
import { asDeviceId, asServerId, asSocketId, asTenantId, asUserId, type SocketId } from '../../src/domain/ids.js';
import { until } from '../helpers/harness.js';
import { startRedis } from '../helpers/redis-server.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const TTL_MS = 1000;

describe('ServerLiveness', () => {
  it('after the directory was out of reach for longer than the TTL, reaps no server until the others had a TTL to heartbeat again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-liveness-'));
    // Every write is on disk before it is acknowledged: Redis comes back with the old heartbeats.
    const redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]);
    const conn = await connectRedis({ url: redis.url, mode: 'single' }, quiet);
    try {
      let now = 1_000_000;
      const clock = { now: () => now };
      const directory = new RedisServerDirectory(conn.commands, TTL_MS);
      const registry = new RedisConnectionRegistry(conn.commands);
      const reaped: SocketId[] = [];
      const presence = { reap: async (_p: unknown, socketId: SocketId) => void reaped.push(socketId) };
      const server = (id: string) => new ServerLiveness(asServerId(id), directory, registry, presence, clock, quiet, { heartbeatMs: 100, serverTtlMs: TTL_MS });
      const [a, b, c] = [server('a'), server('b'), server('c')];
      const connectionOn = (serverId: string) => ({
        socketId: asSocketId(`${serverId}-socket`), serverId: asServerId(serverId), tenantId: asTenantId('acme'),
        userId: asUserId(`${serverId}-user`), deviceId: asDeviceId('phone'), connectedAt: new Date(now).toISOString(),
      });
      for (const s of [a, b, c]) await s.round();
      await registry.register(connectionOn('b'));
      await registry.register(connectionOn('c'));

      await redis.kill();
      // Every server's heartbeat fails meanwhile.
      for (const s of [a, b, c]) await s.round();
      now += 3 * TTL_MS;
      await redis.restart();
      await until(() => conn.healthy(), 10_000);

      // Every heartbeat in the directory is now older than the TTL, b's and c's too.
      await a.round();
      assert.deepEqual(reaped, [], 'nobody is reaped right after the outage');
      now += TTL_MS / 2;
      await b.round();
      await a.round();
      assert.deepEqual(reaped, []);

      // b heartbeats again within its TTL; c never does, so c is dead after all.
      now += TTL_MS / 2;
      await b.round();
      await a.round();
      assert.deepEqual(reaped, [asSocketId('c-socket')]);
      assert.deepEqual((await registry.connectionsOnServer(asServerId('c'))).length, 0);
      assert.deepEqual((await registry.connectionsOnServer(asServerId('b'))).map((x) => x.socketId), [asSocketId('b-socket')]);
    } finally {
      await conn.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

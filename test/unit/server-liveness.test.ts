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
const HEARTBEAT_MS = 100;

/** Three servers' liveness over one real Redis directory and registry, on a clock the test moves. */
async function world(redisArgs: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-liveness-'));
  const redis = await startRedis([...redisArgs, '--dir', dir]);
  const conn = await connectRedis({ url: redis.url, mode: 'single' }, quiet);
  const clock = { t: 1_000_000, now: () => clock.t };
  const directory = new RedisServerDirectory(conn.commands, TTL_MS);
  const registry = new RedisConnectionRegistry(conn.commands);
  const reaped: SocketId[] = [];
  const presence = { reap: async (_p: unknown, socketId: SocketId) => void reaped.push(socketId) };
  const server = (id: string) => new ServerLiveness(asServerId(id), directory, registry, presence, clock, quiet, { heartbeatMs: HEARTBEAT_MS, serverTtlMs: TTL_MS });
  const [a, b, c] = [server('a'), server('b'), server('c')];
  for (const s of [a, b, c]) await s.round();
  for (const id of ['b', 'c']) {
    await registry.register({
      socketId: asSocketId(`${id}-socket`), serverId: asServerId(id), tenantId: asTenantId('acme'),
      userId: asUserId(`${id}-user`), deviceId: asDeviceId('phone'), connectedAt: new Date(clock.t).toISOString(),
    });
  }
  return {
    redis, conn, clock, registry, reaped, a, b, c, server,
    onServer: async (id: string) => (await registry.connectionsOnServer(asServerId(id))).map((x) => x.socketId),
    /** Moves the clock on by `ms` a heartbeat at a time, with a round of each of `servers` at each. */
    async tick(servers: ServerLiveness[], ms: number) {
      for (let t = 0; t < ms; t += HEARTBEAT_MS) {
        clock.t += HEARTBEAT_MS;
        for (const s of servers) await s.round();
      }
    },
    async close() {
      await conn.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('ServerLiveness', () => {
  it('after the directory was out of reach for longer than the TTL, reaps no server until the others had a TTL to heartbeat again', async () => {
    // Every write is on disk before it is acknowledged: Redis comes back with the old heartbeats.
    const w = await world(['--appendonly', 'yes', '--appendfsync', 'always']);
    try {
      const { a, b, c, clock, reaped } = w;
      await w.redis.kill();
      // Every server's heartbeat fails meanwhile.
      for (const s of [a, b, c]) await s.round();
      clock.t += 3 * TTL_MS;
      await w.redis.restart();
      await until(() => w.conn.healthy(), 10_000);

      // Every heartbeat in the directory is now older than the TTL, b's and c's too.
      await a.round();
      assert.deepEqual(reaped, [], 'nobody is reaped right after the outage');
      clock.t += TTL_MS / 2;
      await b.round();
      await a.round();
      assert.deepEqual(reaped, []);

      // b heartbeats again within its TTL; c never does, so c is dead after all.
      clock.t += TTL_MS / 2;
      await b.round();
      await a.round();
      assert.deepEqual(reaped, [asSocketId('c-socket')]);
      assert.deepEqual(await w.onServer('c'), []);
      assert.deepEqual(await w.onServer('b'), [asSocketId('b-socket')]);
    } finally {
      await w.close();
    }
  });

  it('waits the same way after going a TTL without a heartbeat with no error (a stalled directory or process)', async () => {
    const w = await world();
    try {
      const { a, b, clock, reaped } = w;
      clock.t += 2 * TTL_MS;
      await a.round();
      assert.deepEqual(reaped, [], 'b and c look dead, but a could not heartbeat either');
      await w.tick([b, a], TTL_MS);
      assert.deepEqual(reaped, [asSocketId('c-socket')]);
    } finally {
      await w.close();
    }
  });

  it('reaps a dead server within the TTL when one of its own heartbeats failed meanwhile', async () => {
    const w = await world(['--appendonly', 'yes', '--appendfsync', 'always']);
    try {
      const { a, clock, reaped } = w;
      const since = clock.t;
      await w.tick([a], 2 * HEARTBEAT_MS);
      await w.redis.kill();
      await a.round();
      await w.redis.restart();
      await until(() => w.conn.healthy(), 10_000);
      // Only a heartbeats: b and c are dead, and a reaps them once their heartbeats are a TTL old.
      while (reaped.length === 0 && clock.t - since <= 2 * TTL_MS) await w.tick([a], HEARTBEAT_MS);
      assert.deepEqual([...reaped].sort(), [asSocketId('b-socket'), asSocketId('c-socket')]);
      assert.ok(clock.t - since <= TTL_MS + HEARTBEAT_MS, `reaped ${clock.t - since} ms after their last heartbeat`);
    } finally {
      await w.close();
    }
  });

  it('reaps no server in the first TTL after it started', async () => {
    const w = await world();
    try {
      const { clock, reaped } = w;
      clock.t += 2 * TTL_MS;
      const d = w.server('d');
      await d.start();
      await d.round();
      assert.deepEqual(reaped, [], 'the others may be reconnecting to a directory that just came back');
      await w.tick([d], TTL_MS);
      assert.deepEqual([...reaped].sort(), [asSocketId('b-socket'), asSocketId('c-socket')]);
      await d.stop();
    } finally {
      await w.close();
    }
  });
});

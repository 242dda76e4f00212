import { asServerId, asSocketId, asTenantId, asUserId, type ServerId, type TenantId, type UserId } from '../../domain/ids.js';
import type { ConnectionRegistry, SocketConnection } from '../../ports/connection-registry.js';
import type { RedisCommands } from './redis-connection.js';
import { keys, USER_KEY_TTL_SECONDS } from './redis-keys.js';

/**
 * Registry in Redis (seed 004 §8): per user a hash socketId → connection, per server a set
 * of its sockets. A crashed server's entries are removed by the server that reaps it
 * (see ServerDirectory); readers may see them until then.
 */
export class RedisConnectionRegistry implements ConnectionRegistry {
  constructor(private readonly redis: RedisCommands) {}

  async register(c: SocketConnection): Promise<void> {
    const userKey = keys.connections(c.tenantId, c.userId);
    await Promise.all([
      // The registry's fields only: `c` may be a larger object (a server's whole session).
      this.redis.hSet(userKey, { [c.socketId]: JSON.stringify({ socketId: c.socketId, serverId: c.serverId, tenantId: c.tenantId, userId: c.userId, deviceId: c.deviceId, connectedAt: c.connectedAt }) }),
      this.redis.expire(userKey, USER_KEY_TTL_SECONDS),
      this.redis.sAdd(keys.serverConnections(c.serverId), [memberOf(c)]),
    ]);
  }

  async unregister(c: SocketConnection): Promise<void> {
    await Promise.all([
      this.redis.hDel(keys.connections(c.tenantId, c.userId), [c.socketId]),
      this.redis.sRem(keys.serverConnections(c.serverId), [memberOf(c)]),
    ]);
  }

  async connectionsOf(tenantId: TenantId, userIds: readonly UserId[]): Promise<SocketConnection[]> {
    const hashes = await Promise.all([...new Set(userIds)].map((u) => this.redis.hGetAll(keys.connections(tenantId, u))));
    return hashes.flatMap((h) => Object.values(h).map((v) => JSON.parse(v) as SocketConnection));
  }

  async connectionsOnServer(serverId: ServerId): Promise<SocketConnection[]> {
    const members = await this.redis.sMembers(keys.serverConnections(serverId));
    return members.map((m) => {
      const [t, u, s, device, at] = m.split('/');
      return { tenantId: asTenantId(t!), userId: asUserId(u!), socketId: asSocketId(s!), serverId: asServerId(serverId), deviceId: device as SocketConnection['deviceId'], connectedAt: at! };
    });
  }
}

// Ids cannot contain '/', and an ISO time has none either.
const memberOf = (c: SocketConnection): string => [c.tenantId, c.userId, c.socketId, c.deviceId, c.connectedAt].join('/');

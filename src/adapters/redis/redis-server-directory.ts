import { asServerId, type ServerId } from '../../domain/ids.js';
import type { ServerDirectory } from '../../ports/server-directory.js';
import type { RedisCommands } from './redis-connection.js';
import { keys } from './redis-keys.js';

/** Server heartbeats in a sorted set scored by time; reaping is claimed with SET NX. */
export class RedisServerDirectory implements ServerDirectory {
  constructor(
    private readonly redis: RedisCommands,
    private readonly ttlMs: number,
  ) {}

  async heartbeat(serverId: ServerId, at: number): Promise<boolean> {
    return (await this.redis.zAdd(keys.servers, { score: at, value: serverId })) === 0;
  }

  async deadServers(at: number): Promise<ServerId[]> {
    return (await this.redis.zRangeByScore(keys.servers, '-inf', at - this.ttlMs - 1)).map(asServerId);
  }

  async claim(serverId: ServerId, by: ServerId): Promise<boolean> {
    return (await this.redis.set(keys.reapLock(serverId), by, { NX: true, PX: this.ttlMs * 4 })) === 'OK';
  }

  async remove(serverId: ServerId): Promise<void> {
    await this.redis.zRem(keys.servers, serverId);
  }
}

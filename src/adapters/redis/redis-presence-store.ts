import type { SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { ChosenStatus, Presence } from '../../domain/model.js';
import type { PresenceStore } from '../../ports/presence-store.js';
import type { RedisCommands } from './redis-connection.js';
import { keys, USER_KEY_TTL_SECONDS } from './redis-keys.js';

// Both keys share the user's hash tag, so each script runs atomically in one slot.
const ADD_SESSION = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], 'lastSeen', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return redis.call('HLEN', KEYS[1])`;
const REMOVE_SESSION = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[2], 'lastSeen', ARGV[2]) end
return redis.call('HLEN', KEYS[1])`;

/** Presence in Redis: a hash of open sessions and a hash of status, custom text and last seen per user. */
export class RedisPresenceStore implements PresenceStore {
  constructor(private readonly redis: RedisCommands) {}

  async addSession(t: TenantId, u: UserId, sessionId: SocketId, at: string): Promise<number> {
    return Number(await this.redis.eval(ADD_SESSION, { keys: [keys.presenceSessions(t, u), keys.presence(t, u)], arguments: [sessionId, at, String(USER_KEY_TTL_SECONDS)] }));
  }

  async removeSession(t: TenantId, u: UserId, sessionId: SocketId, at: string): Promise<number> {
    return Number(await this.redis.eval(REMOVE_SESSION, { keys: [keys.presenceSessions(t, u), keys.presence(t, u)], arguments: [sessionId, at] }));
  }

  async setStatus(t: TenantId, u: UserId, change: { status?: ChosenStatus; customStatus?: string | null }): Promise<Presence> {
    const key = keys.presence(t, u);
    const fields: Record<string, string> = {};
    if (change.status !== undefined) fields.status = change.status;
    if (typeof change.customStatus === 'string') fields.customStatus = change.customStatus;
    if (Object.keys(fields).length > 0) await this.redis.hSet(key, fields);
    if (change.customStatus === null) await this.redis.hDel(key, ['customStatus']);
    await this.redis.expire(key, USER_KEY_TTL_SECONDS);
    return (await this.get(t, [u]))[0]!;
  }

  async get(t: TenantId, userIds: readonly UserId[]): Promise<Presence[]> {
    return Promise.all(
      userIds.map(async (userId): Promise<Presence> => {
        const [h, devices] = await Promise.all([this.redis.hGetAll(keys.presence(t, userId)), this.redis.hLen(keys.presenceSessions(t, userId))]);
        return {
          userId,
          status: devices > 0 ? ((h.status as ChosenStatus | undefined) ?? 'online') : 'offline',
          customStatus: h.customStatus ?? null,
          lastSeen: h.lastSeen ?? null,
          devices,
        };
      }),
    );
  }
}

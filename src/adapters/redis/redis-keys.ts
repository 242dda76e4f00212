import type { ServerId, TenantId, UserId } from '../../domain/ids.js';

/*
 * Key and channel names. Per-user keys carry the tenant and user in a hash tag `{…}` so a
 * user's keys share one Cluster slot and a script may touch them together. Ids cannot
 * contain '/', so `tenant/user` names exactly one user of one tenant.
 */
export const userTag = (t: TenantId, u: UserId): string => `{${t}/${u}}`;
export const keys = {
  connections: (t: TenantId, u: UserId) => `sb:conn:${userTag(t, u)}`,
  serverConnections: (s: ServerId) => `sb:srv:{${s}}:conns`,
  presence: (t: TenantId, u: UserId) => `sb:pres:${userTag(t, u)}`,
  presenceSessions: (t: TenantId, u: UserId) => `sb:psess:${userTag(t, u)}`,
  servers: 'sb:servers',
  reapLock: (s: ServerId) => `sb:reap:{${s}}`,
  serverChannel: (s: ServerId) => `sb:server:${s}`,
};

/** Seconds a user's keys outlive their last write, so abandoned keys go away by themselves. */
export const USER_KEY_TTL_SECONDS = 7 * 24 * 3600;

import type { DeviceId, ServerId, SocketId, TenantId, UserId } from '../domain/ids.js';

/** One live socket (seed 000 §1.2 `SocketConnection`). */
export interface SocketConnection {
  socketId: SocketId;
  serverId: ServerId;
  tenantId: TenantId;
  userId: UserId;
  deviceId: DeviceId;
  connectedAt: string;
}

/**
 * Maps users to their live sockets and sockets to the server that holds them.
 *
 * Guarantees: a registered socket is visible to lookups on every server once
 * `register` resolves, and gone once `unregister` resolves. Entries of a server that
 * stops without unregistering are the registry's duty to expire.
 */
export interface ConnectionRegistry {
  register(connection: SocketConnection): Promise<void>;
  unregister(connection: SocketConnection): Promise<void>;
  /** All live sockets of these users of one tenant. */
  connectionsOf(tenantId: TenantId, userIds: readonly UserId[]): Promise<SocketConnection[]>;
  /** Every socket registered by one server (to reap a server that died). */
  connectionsOnServer(serverId: ServerId): Promise<SocketConnection[]>;
}

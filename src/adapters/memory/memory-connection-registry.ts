import type { ServerId, SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { ConnectionRegistry, SocketConnection } from '../../ports/connection-registry.js';

/**
 * In-memory registry. Servers that share one instance (in one process) see each other's
 * sockets; entries never expire, so it suits a single process only.
 */
export class MemoryConnectionRegistry implements ConnectionRegistry {
  private readonly byUser = new Map<string, Map<SocketId, SocketConnection>>();

  async register(c: SocketConnection): Promise<void> {
    const k = `${c.tenantId}/${c.userId}`;
    const sockets = this.byUser.get(k) ?? new Map<SocketId, SocketConnection>();
    sockets.set(c.socketId, c);
    this.byUser.set(k, sockets);
  }

  async unregister(c: SocketConnection): Promise<void> {
    const k = `${c.tenantId}/${c.userId}`;
    const sockets = this.byUser.get(k);
    if (!sockets) return;
    sockets.delete(c.socketId);
    if (sockets.size === 0) this.byUser.delete(k);
  }

  async connectionsOf(tenantId: TenantId, userIds: readonly UserId[]): Promise<SocketConnection[]> {
    const out: SocketConnection[] = [];
    for (const u of new Set(userIds)) {
      const sockets = this.byUser.get(`${tenantId}/${u}`);
      if (sockets) for (const c of sockets.values()) out.push(c);
    }
    return out;
  }

  async connectionsOnServer(serverId: ServerId): Promise<SocketConnection[]> {
    return [...this.byUser.values()].flatMap((sockets) => [...sockets.values()].filter((c) => c.serverId === serverId));
  }
}

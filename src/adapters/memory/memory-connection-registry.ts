import type { ServerId, TenantId, UserId } from '../../domain/ids.js';
import type { ConnectionRegistry, SocketConnection } from '../../ports/connection-registry.js';

/**
 * In-memory registry. Servers that share one instance (in one process) see each other's
 * sockets; entries never expire, so it suits a single process only.
 */
export class MemoryConnectionRegistry implements ConnectionRegistry {
  /** A user's sockets in an array: one or a few each, and an array of one is about a fifth of a Map of one. */
  private readonly byUser = new Map<string, SocketConnection[]>();

  async register(c: SocketConnection): Promise<void> {
    const k = `${c.tenantId}/${c.userId}`;
    // `concat` makes an array of exactly that length (a spread or `push` reserves 17 slots).
    const others = this.byUser.get(k)?.filter((s) => s.socketId !== c.socketId) ?? [];
    this.byUser.set(k, others.concat(c));
  }

  async unregister(c: SocketConnection): Promise<void> {
    const k = `${c.tenantId}/${c.userId}`;
    const sockets = this.byUser.get(k)?.filter((s) => s.socketId !== c.socketId);
    if (!sockets) return;
    if (sockets.length === 0) this.byUser.delete(k);
    else this.byUser.set(k, sockets);
  }

  async connectionsOf(tenantId: TenantId, userIds: readonly UserId[]): Promise<SocketConnection[]> {
    const out: SocketConnection[] = [];
    for (const u of new Set(userIds)) {
      const sockets = this.byUser.get(`${tenantId}/${u}`);
      if (sockets) out.push(...sockets);
    }
    return out;
  }

  async connectionsOnServer(serverId: ServerId): Promise<SocketConnection[]> {
    return [...this.byUser.values()].flat().filter((c) => c.serverId === serverId);
  }
}

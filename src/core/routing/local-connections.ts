import type { SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { SocketConnection } from '../../ports/connection-registry.js';

/**
 * The sockets this server holds, by user. Local delivery reads it instead of the shared
 * registry: it is always available (also while Redis is down) and costs no round trip.
 */
export class LocalConnections {
  private readonly byUser = new Map<string, Map<SocketId, SocketConnection>>();

  add(c: SocketConnection): void {
    const k = `${c.tenantId}/${c.userId}`;
    const sockets = this.byUser.get(k) ?? new Map<SocketId, SocketConnection>();
    sockets.set(c.socketId, c);
    this.byUser.set(k, sockets);
  }

  remove(c: SocketConnection): void {
    const k = `${c.tenantId}/${c.userId}`;
    const sockets = this.byUser.get(k);
    sockets?.delete(c.socketId);
    if (sockets?.size === 0) this.byUser.delete(k);
  }

  connectionsOf(tenantId: TenantId, userIds: readonly UserId[]): SocketConnection[] {
    const out: SocketConnection[] = [];
    for (const u of new Set(userIds)) {
      const sockets = this.byUser.get(`${tenantId}/${u}`);
      if (sockets) for (const c of sockets.values()) out.push(c);
    }
    return out;
  }

  all(): SocketConnection[] {
    return [...this.byUser.values()].flatMap((m) => [...m.values()]);
  }
}

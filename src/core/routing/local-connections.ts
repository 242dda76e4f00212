import type { TenantId, UserId } from '../../domain/ids.js';
import type { SocketConnection } from '../../ports/connection-registry.js';

/**
 * The sockets this server holds, by user. Local delivery reads it instead of the shared
 * registry: it is always available (also while Redis is down) and costs no round trip.
 */
export class LocalConnections {
  /**
   * A user's sockets in an array: one or a few each (the per-user limit), and an array of one
   * is about a fifth of a Map of one, which every idle connection would pay for.
   */
  private readonly byUser = new Map<string, SocketConnection[]>();

  add(c: SocketConnection): void {
    const k = `${c.tenantId}/${c.userId}`;
    // `concat` makes an array of exactly that length (a spread or `push` reserves 17 slots).
    const others = this.byUser.get(k)?.filter((s) => s.socketId !== c.socketId) ?? [];
    this.byUser.set(k, others.concat(c));
  }

  remove(c: SocketConnection): void {
    const k = `${c.tenantId}/${c.userId}`;
    const sockets = this.byUser.get(k)?.filter((s) => s.socketId !== c.socketId);
    if (!sockets) return;
    if (sockets.length === 0) this.byUser.delete(k);
    else this.byUser.set(k, sockets);
  }

  connectionsOf(tenantId: TenantId, userIds: readonly UserId[]): SocketConnection[] {
    const out: SocketConnection[] = [];
    for (const u of new Set(userIds)) {
      const sockets = this.byUser.get(`${tenantId}/${u}`);
      if (sockets) out.push(...sockets);
    }
    return out;
  }

  all(): SocketConnection[] {
    return [...this.byUser.values()].flat();
  }
}

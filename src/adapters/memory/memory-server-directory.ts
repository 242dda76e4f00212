import type { ServerId } from '../../domain/ids.js';
import type { ServerDirectory } from '../../ports/server-directory.js';

/** Server liveness for servers sharing one process. */
export class MemoryServerDirectory implements ServerDirectory {
  private readonly beats = new Map<ServerId, number>();
  private readonly claims = new Set<ServerId>();

  constructor(private readonly ttlMs: number) {}

  async heartbeat(serverId: ServerId, at: number): Promise<boolean> {
    const listed = this.beats.has(serverId);
    this.beats.set(serverId, at);
    return listed;
  }

  async deadServers(at: number): Promise<ServerId[]> {
    return [...this.beats].filter(([, last]) => last < at - this.ttlMs).map(([id]) => id);
  }

  async claim(serverId: ServerId): Promise<boolean> {
    if (this.claims.has(serverId) || !this.beats.has(serverId)) return false;
    this.claims.add(serverId);
    return true;
  }

  async remove(serverId: ServerId): Promise<void> {
    this.beats.delete(serverId);
    this.claims.delete(serverId);
  }
}

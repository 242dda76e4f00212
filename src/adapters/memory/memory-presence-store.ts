import type { SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { ChosenStatus, Presence } from '../../domain/model.js';
import type { PresenceStore } from '../../ports/presence-store.js';

interface Entry {
  sessions: Set<SocketId>;
  chosen: ChosenStatus;
  customStatus: string | null;
  lastSeen: string | null;
}

/** In-memory presence for a single process. */
export class MemoryPresenceStore implements PresenceStore {
  private readonly entries = new Map<string, Entry>();

  private entry(t: TenantId, u: UserId): Entry {
    const k = `${t}/${u}`;
    let e = this.entries.get(k);
    if (!e) {
      e = { sessions: new Set(), chosen: 'online', customStatus: null, lastSeen: null };
      this.entries.set(k, e);
    }
    return e;
  }

  async addSession(t: TenantId, u: UserId, sessionId: SocketId, at: string): Promise<number> {
    const e = this.entry(t, u);
    e.sessions.add(sessionId);
    e.lastSeen = at;
    return e.sessions.size;
  }

  async removeSession(t: TenantId, u: UserId, sessionId: SocketId, at: string): Promise<number> {
    const e = this.entry(t, u);
    if (e.sessions.delete(sessionId)) e.lastSeen = at;
    return e.sessions.size;
  }

  async setStatus(t: TenantId, u: UserId, change: { status?: ChosenStatus; customStatus?: string | null }): Promise<Presence> {
    const e = this.entry(t, u);
    if (change.status !== undefined) e.chosen = change.status;
    if (change.customStatus !== undefined) e.customStatus = change.customStatus;
    return view(u, e);
  }

  async get(t: TenantId, userIds: readonly UserId[]): Promise<Presence[]> {
    return userIds.map((u) => {
      const e = this.entries.get(`${t}/${u}`);
      return e ? view(u, e) : { userId: u, status: 'offline', customStatus: null, lastSeen: null, devices: 0 };
    });
  }
}

function view(userId: UserId, e: Entry): Presence {
  return {
    userId,
    status: e.sessions.size > 0 ? e.chosen : 'offline',
    customStatus: e.customStatus,
    lastSeen: e.lastSeen,
    devices: e.sessions.size,
  };
}

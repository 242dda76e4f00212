import type { SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { ChosenStatus, Presence } from '../../domain/model.js';
import type { PresenceStore } from '../../ports/presence-store.js';

interface Entry {
  /** One or a few per user: an array of one is about a fifth of a Set of one. */
  sessions: SocketId[];
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
      e = { sessions: [], chosen: 'online', customStatus: null, lastSeen: null };
      this.entries.set(k, e);
    }
    return e;
  }

  async addSession(t: TenantId, u: UserId, sessionId: SocketId, at: string): Promise<number> {
    const e = this.entry(t, u);
    if (!e.sessions.includes(sessionId)) e.sessions = e.sessions.concat(sessionId);
    e.lastSeen = at;
    return e.sessions.length;
  }

  async removeSession(t: TenantId, u: UserId, sessionId: SocketId, at: string): Promise<number> {
    const e = this.entry(t, u);
    if (e.sessions.includes(sessionId)) {
      e.sessions = e.sessions.filter((s) => s !== sessionId);
      e.lastSeen = at;
    }
    return e.sessions.length;
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
    status: e.sessions.length > 0 ? e.chosen : 'offline',
    customStatus: e.customStatus,
    lastSeen: e.lastSeen,
    devices: e.sessions.length,
  };
}

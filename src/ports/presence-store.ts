import type { SocketId, TenantId, UserId } from '../domain/ids.js';
import type { ChosenStatus, Presence } from '../domain/model.js';

/**
 * Presence of users: which sessions they have open, the status they chose, last seen.
 *
 * Guarantees: `addSession` and `removeSession` are atomic and return the user's
 * session count after the change, so exactly one caller sees the 0→1 and 1→0 edges.
 * A user with no session reads as `offline`.
 */
export interface PresenceStore {
  addSession(tenantId: TenantId, userId: UserId, sessionId: SocketId, at: string): Promise<number>;
  removeSession(tenantId: TenantId, userId: UserId, sessionId: SocketId, at: string): Promise<number>;
  /** Sets the chosen status and/or custom status text (null clears the text). */
  setStatus(tenantId: TenantId, userId: UserId, change: { status?: ChosenStatus; customStatus?: string | null }): Promise<Presence>;
  get(tenantId: TenantId, userIds: readonly UserId[]): Promise<Presence[]>;
}

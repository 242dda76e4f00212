import type { ServerId } from '../domain/ids.js';

/**
 * Which servers are alive. Each server heartbeats; one whose last heartbeat is older than
 * the directory's TTL counts as dead, and its registrations are reaped by a live server.
 *
 * Guarantees: `claim` is atomic — of all servers that call it for the same dead server,
 * exactly one gets true, so a dead server is reaped once.
 */
export interface ServerDirectory {
  heartbeat(serverId: ServerId, at: number): Promise<void>;
  /** Servers whose last heartbeat is older than `at - ttl`. */
  deadServers(at: number): Promise<ServerId[]>;
  /** Claims the reaping of a dead server; true for exactly one caller. */
  claim(serverId: ServerId, by: ServerId): Promise<boolean>;
  /** Forgets a server (after reaping it, or when it leaves gracefully). */
  remove(serverId: ServerId): Promise<void>;
}

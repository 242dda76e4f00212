import type { ServerId } from '../domain/ids.js';

/**
 * Which servers are alive. Each server heartbeats; one whose last heartbeat is older than
 * the directory's TTL counts as dead, and its registrations are reaped by a live server.
 *
 * Guarantees: `claim` is atomic — of all servers that call it for the same dead server,
 * exactly one gets true, so a dead server is reaped once.
 */
export interface ServerDirectory {
  /**
   * Marks the server alive at `at`. Resolves true when it was listed already; false when this
   * heartbeat listed it again: its first one, or it had been reaped or forgotten meanwhile.
   */
  heartbeat(serverId: ServerId, at: number): Promise<boolean>;
  /** Servers whose last heartbeat is older than `at - ttl`. */
  deadServers(at: number): Promise<ServerId[]>;
  /** Claims the reaping of a dead server; true for exactly one caller. */
  claim(serverId: ServerId, by: ServerId): Promise<boolean>;
  /** Forgets a server (after reaping it, or when it leaves gracefully). */
  remove(serverId: ServerId): Promise<void>;
}

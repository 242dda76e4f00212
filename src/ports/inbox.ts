import type { DeviceId, SocketId, TenantId, UserId } from '../domain/ids.js';
import type { Envelope } from '../domain/protocol/envelope.js';

/** Position in a user's inbox: 1, 2, 3… per user, without gaps. */
export type Offset = number;

export interface InboxEntry {
  offset: Offset;
  envelope: Envelope;
  /** When it was appended (ms since the epoch). */
  at: number;
  /** A socket that must not get it (the sender's own). */
  exceptSocket: SocketId | null;
}

/** Why an entry left an inbox before any device acknowledged it. */
export type DeadLetterReason = 'expired' | 'size_cap';

export interface InboxDeadLetter {
  tenantId: TenantId;
  userId: UserId;
  entry: InboxEntry;
  reason: DeadLetterReason;
}

export interface InboxRetention {
  /** Entries older than this leave the inbox (default 7 days). */
  maxAgeMs: number;
  /** The oldest entries leave once a user's entries take more bytes than this (default 10 MB). */
  maxBytes: number;
}

export interface InboxRead {
  /** Entries with offset > `after`, oldest first. */
  entries: InboxEntry[];
  /** The newest offset of the inbox (0 when nothing was ever appended). */
  head: Offset;
  /** True when entries after `after` were already removed by retention: read history instead. */
  lost: boolean;
}

/**
 * A per-user ordered log of everything delivered to the user (seed 001 §4.3's offline
 * queue, generalised), so that every device can catch up from the offset it last
 * acknowledged.
 *
 * Guarantees:
 * - `append` is atomic per user and durable once resolved; offsets are dense per user.
 * - Entries stay until retention removes them (age or size, see `InboxRetention`); an entry
 *   removed before any device of the user acknowledged it becomes a dead letter, kept in
 *   the inbox's dead-letter stream with the reason.
 * - Acknowledgements are cumulative per device and never move back.
 */
export interface Inbox {
  /**
   * Appends the envelope to each user's inbox. Returns each user's offset and the dead
   * letters that the size cap pushed out. `stream` names the sequence the event belongs to
   * (its conversation): an adapter may keep a user's consecutive events of one stream
   * together. It is a hint; what the inbox holds is the same with or without it.
   */
  append(tenantId: TenantId, userIds: readonly UserId[], envelope: Envelope, exceptSocket: SocketId | null, now: number, stream?: string): Promise<{ offsets: Map<UserId, Offset>; deadLetters: InboxDeadLetter[] }>;
  /** Up to `limit` entries after `after`. */
  read(tenantId: TenantId, userId: UserId, after: Offset, limit: number): Promise<InboxRead>;
  /** The device has every entry up to `offset`. */
  ack(tenantId: TenantId, userId: UserId, deviceId: DeviceId, offset: Offset): Promise<void>;
  /** The device's acknowledged offset (0 if none). */
  acked(tenantId: TenantId, userId: UserId, deviceId: DeviceId): Promise<Offset>;
  /**
   * Removes entries older than the retention age from the inboxes that have some (at most
   * `limit` inboxes per call); returns how many inboxes it trimmed (fewer than `limit`: no
   * more are due) and the dead letters among the removed entries.
   */
  expire(now: number, limit: number): Promise<{ inboxes: number; deadLetters: InboxDeadLetter[] }>;
  /** The newest dead letters, newest first. */
  deadLetters(limit: number): Promise<InboxDeadLetter[]>;
}

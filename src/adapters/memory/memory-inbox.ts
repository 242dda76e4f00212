import { decode } from '@msgpack/msgpack';
import { encodeEnvelope } from '../codec/inbox-envelope.js';
import type { DeviceId, SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { Envelope } from '../../domain/protocol/envelope.js';
import type { DeadLetterReason, Inbox, InboxDeadLetter, InboxEntry, InboxRead, InboxRetention, Offset } from '../../ports/inbox.js';

/** 7 days and 10 MB per user. */
const DEFAULT_RETENTION: InboxRetention = { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 10 * 1024 * 1024 };
/** The dead letters kept, newest (like the Redis stream's `MAXLEN`). */
const DEAD_LETTERS_KEPT = 100_000;

interface StoredEntry {
  offset: Offset;
  /** The envelope as MessagePack, as the other backends keep it: its length is what the size cap counts. */
  raw: Uint8Array;
  at: number;
  exceptSocket: SocketId | null;
}

interface StoredDeadLetter {
  tenantId: TenantId;
  userId: UserId;
  entry: StoredEntry;
  reason: DeadLetterReason;
}

interface UserInbox {
  tenantId: TenantId;
  userId: UserId;
  head: Offset;
  bytes: number;
  /** Retained entries, ascending and contiguous: `entries[i].offset === entries[0].offset + i`. */
  entries: StoredEntry[];
  acks: Map<DeviceId, Offset>;
  /** The highest ack of any device: entries up to it are acknowledged for the user. */
  maxAck: Offset;
}

/**
 * In-memory inboxes for a single process. Envelopes are kept encoded, so a read returns a
 * copy and the size cap counts the same bytes as the SQLite and Redis inboxes.
 */
export class MemoryInbox implements Inbox {
  private readonly retention: InboxRetention;
  private readonly inboxes = new Map<string, UserInbox>();
  /** Oldest first. */
  private dead: StoredDeadLetter[] = [];

  constructor(retention: Partial<InboxRetention> = {}) {
    this.retention = { ...DEFAULT_RETENTION, ...retention };
  }

  async append(t: TenantId, userIds: readonly UserId[], envelope: Envelope, exceptSocket: SocketId | null, now: number): Promise<{ offsets: Map<UserId, Offset>; deadLetters: InboxDeadLetter[] }> {
    const raw = encodeEnvelope(envelope);
    const offsets = new Map<UserId, Offset>();
    const deadLetters: InboxDeadLetter[] = [];
    for (const u of new Set(userIds)) {
      const inbox = this.inbox(t, u);
      const offset = ++inbox.head;
      inbox.entries.push({ offset, raw, at: now, exceptSocket });
      inbox.bytes += raw.byteLength;
      offsets.set(u, offset);
      let evict = 0;
      for (let bytes = inbox.bytes; bytes > this.retention.maxBytes && evict < inbox.entries.length; evict++) bytes -= inbox.entries[evict]!.raw.byteLength;
      deadLetters.push(...this.remove(inbox, evict, 'size_cap'));
    }
    return { offsets, deadLetters };
  }

  async read(t: TenantId, u: UserId, after: Offset, limit: number): Promise<InboxRead> {
    const inbox = this.inboxes.get(`${t}/${u}`);
    if (!inbox) return { entries: [], head: 0, lost: false };
    const first = inbox.entries[0]?.offset ?? inbox.head + 1;
    const from = Math.max(after + 1, first) - first;
    const entries = limit > 0 ? inbox.entries.slice(from, from + limit).map(toEntry) : [];
    return { entries, head: inbox.head, lost: inbox.head > after && after < first - 1 };
  }

  async ack(t: TenantId, u: UserId, deviceId: DeviceId, offset: Offset): Promise<void> {
    const inbox = this.inboxes.get(`${t}/${u}`);
    if (!inbox) return;
    // Nothing beyond the head exists to be acknowledged.
    const upTo = Math.min(offset, inbox.head);
    if (upTo > (inbox.acks.get(deviceId) ?? 0)) inbox.acks.set(deviceId, upTo);
    inbox.maxAck = Math.max(inbox.maxAck, upTo);
  }

  async acked(t: TenantId, u: UserId, deviceId: DeviceId): Promise<Offset> {
    return this.inboxes.get(`${t}/${u}`)?.acks.get(deviceId) ?? 0;
  }

  async expire(now: number, limit: number): Promise<{ inboxes: number; deadLetters: InboxDeadLetter[] }> {
    const cutoff = now - this.retention.maxAgeMs;
    const deadLetters: InboxDeadLetter[] = [];
    let trimmed = 0;
    for (const inbox of this.inboxes.values()) {
      if (trimmed >= limit) break;
      if ((inbox.entries[0]?.at ?? cutoff) >= cutoff) continue;
      trimmed++;
      // The leading run of old entries: the retained entries stay a contiguous suffix.
      let count = 0;
      while (count < inbox.entries.length && inbox.entries[count]!.at < cutoff) count++;
      deadLetters.push(...this.remove(inbox, count, 'expired'));
    }
    return { inboxes: trimmed, deadLetters };
  }

  async deadLetters(limit: number): Promise<InboxDeadLetter[]> {
    return this.dead
      .slice(Math.max(0, this.dead.length - limit))
      .reverse()
      .map(toDeadLetter);
  }

  private inbox(t: TenantId, u: UserId): UserInbox {
    const k = `${t}/${u}`;
    let inbox = this.inboxes.get(k);
    if (!inbox) {
      inbox = { tenantId: t, userId: u, head: 0, bytes: 0, entries: [], acks: new Map(), maxAck: 0 };
      this.inboxes.set(k, inbox);
    }
    return inbox;
  }

  /** Removes the `count` oldest entries; returns (and keeps) those no device had acknowledged. */
  private remove(inbox: UserInbox, count: number, reason: DeadLetterReason): InboxDeadLetter[] {
    if (count === 0) return [];
    const dead: StoredDeadLetter[] = [];
    for (const entry of inbox.entries.splice(0, count)) {
      inbox.bytes -= entry.raw.byteLength;
      if (entry.offset > inbox.maxAck) dead.push({ tenantId: inbox.tenantId, userId: inbox.userId, entry, reason });
    }
    this.dead.push(...dead);
    // Trimmed in chunks, so that a long run of dead letters does not copy the array each time.
    if (this.dead.length > DEAD_LETTERS_KEPT * 1.1) this.dead = this.dead.slice(-DEAD_LETTERS_KEPT);
    return dead.map(toDeadLetter);
  }
}

function toEntry(e: StoredEntry): InboxEntry {
  // A copy, so that the caller's changes (or views into it) never reach the stored bytes.
  return { offset: e.offset, envelope: decode(e.raw.slice()) as Envelope, at: e.at, exceptSocket: e.exceptSocket };
}

function toDeadLetter(d: StoredDeadLetter): InboxDeadLetter {
  return { tenantId: d.tenantId, userId: d.userId, entry: toEntry(d.entry), reason: d.reason };
}

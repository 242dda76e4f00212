import { decode } from '@msgpack/msgpack';
import { encodeEnvelope } from '../codec/inbox-envelope.js';
import { asSocketId, asTenantId, asUserId, type DeviceId, type SocketId, type TenantId, type UserId } from '../../domain/ids.js';
import type { Envelope } from '../../domain/protocol/envelope.js';
import type { DeadLetterReason, Inbox, InboxDeadLetter, InboxEntry, InboxRead, InboxRetention, Offset } from '../../ports/inbox.js';
import type { SqliteDatabase } from './sqlite-database.js';
import { sqliteWriter, type SqliteWriter } from './sqlite-writer.js';

/** 7 days and 10 MB per user. */
const DEFAULT_RETENTION: InboxRetention = { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 10 * 1024 * 1024 };
/** Events for this many users or more keep their envelope once; a direct message's two copies cost less inline than a shared row. */
const SHARE_FROM_USERS = 3;
/** An entry's row, with its envelope inline or, when shared by several users, from `inbox_envelopes`. */
const ENTRY_COLUMNS = 'e.offset, coalesce(v.envelope, e.envelope) AS envelope, e.bytes, e.at, e.except_socket FROM inbox_entries e LEFT JOIN inbox_envelopes v ON v.id = e.envelope_id';
/** The inline envelope of an entry whose envelope is shared. */
const NO_ENVELOPE = new Uint8Array(0);
/** The dead letters kept, newest (like the Redis stream's `MAXLEN`). */
const DEAD_LETTERS_KEPT = 100_000;

interface EntryRow {
  offset: number;
  envelope: Buffer;
  bytes: number;
  at: number;
  except_socket: string | null;
}

interface DeadLetterRow extends Omit<EntryRow, 'bytes'> {
  tenant_id: string;
  user_id: string;
  reason: DeadLetterReason;
}

/**
 * Inboxes in SQLite (tables `inbox_heads`, `inbox_entries`, `inbox_acks`, `inbox_dead_letters`).
 * An event for three users or more keeps its envelope once (`inbox_envelopes`), and it is
 * deleted once it is older than every entry left. Every change is atomic (group-committed with the turn's other writes, `SqliteWriter`), so
 * processes sharing the file see each inbox change as a whole. Envelopes are MessagePack; the size cap counts their bytes.
 */
export class SqliteInbox implements Inbox {
  private readonly retention: InboxRetention;
  private readonly q;
  private readonly writer: SqliteWriter;

  constructor(
    private readonly db: SqliteDatabase,
    retention: Partial<InboxRetention> = {},
  ) {
    this.retention = { ...DEFAULT_RETENTION, ...retention };
    this.writer = sqliteWriter(db);
    this.q = {
      bump: db.prepare<[string, string, number], { head: number; bytes: number }>(
        `INSERT INTO inbox_heads (tenant_id, user_id, head, bytes) VALUES (?, ?, 1, ?)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET head = head + 1, bytes = bytes + excluded.bytes RETURNING head, bytes`,
      ),
      insert: db.prepare<[string, string, number, Uint8Array, number, number, string | null, number | null]>(
        'INSERT INTO inbox_entries (tenant_id, user_id, offset, envelope, bytes, at, except_socket, envelope_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      share: db.prepare<[Uint8Array, number]>('INSERT INTO inbox_envelopes (envelope, at) VALUES (?, ?)'),
      // An envelope older than every entry left has no entry pointing at it (an entry's `at` is its envelope's).
      unshare: db.prepare<[number, number]>(
        `DELETE FROM inbox_envelopes WHERE id IN (
           SELECT id FROM inbox_envelopes WHERE at < coalesce((SELECT min(at) FROM inbox_entries), ?) ORDER BY at LIMIT ?)`,
      ),
      head: db.prepare<[string, string], { head: number; bytes: number }>('SELECT head, bytes FROM inbox_heads WHERE tenant_id = ? AND user_id = ?'),
      oldest: db.prepare<[string, string], EntryRow>(
        `SELECT ${ENTRY_COLUMNS} WHERE e.tenant_id = ? AND e.user_id = ? ORDER BY e.offset`,
      ),
      first: db.prepare<[string, string], { first: number | null }>('SELECT min(offset) AS first FROM inbox_entries WHERE tenant_id = ? AND user_id = ?'),
      after: db.prepare<[string, string, number, number], EntryRow>(
        `SELECT ${ENTRY_COLUMNS} WHERE e.tenant_id = ? AND e.user_id = ? AND e.offset > ? ORDER BY e.offset LIMIT ?`,
      ),
      removeUpTo: db.prepare<[string, string, number]>('DELETE FROM inbox_entries WHERE tenant_id = ? AND user_id = ? AND offset <= ?'),
      shrink: db.prepare<[number, string, string]>('UPDATE inbox_heads SET bytes = bytes - ? WHERE tenant_id = ? AND user_id = ?'),
      maxAck: db.prepare<[string, string], { acked: number | null }>('SELECT max(offset) AS acked FROM inbox_acks WHERE tenant_id = ? AND user_id = ?'),
      ack: db.prepare<[string, string, string, number]>(
        `INSERT INTO inbox_acks (tenant_id, user_id, device_id, offset) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant_id, user_id, device_id) DO UPDATE SET offset = max(offset, excluded.offset)`,
      ),
      acked: db.prepare<[string, string, string], { offset: number }>('SELECT offset FROM inbox_acks WHERE tenant_id = ? AND user_id = ? AND device_id = ?'),
      // Inboxes whose first entry is past the age (the correlated lookup is one primary-key probe).
      due: db.prepare<[number, number], { tenant_id: string; user_id: string }>(
        `SELECT e.tenant_id, e.user_id FROM inbox_entries e WHERE e.at < ?
           AND e.offset = (SELECT min(offset) FROM inbox_entries f WHERE f.tenant_id = e.tenant_id AND f.user_id = e.user_id) LIMIT ?`,
      ),
      dead: db.prepare<[string, string, number, Uint8Array, number, string | null, DeadLetterReason, number]>(
        'INSERT INTO inbox_dead_letters (tenant_id, user_id, offset, envelope, at, except_socket, reason, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      trimDead: db.prepare<[number]>('DELETE FROM inbox_dead_letters WHERE id <= (SELECT max(id) FROM inbox_dead_letters) - ?'),
      newestDead: db.prepare<[number], DeadLetterRow>(
        'SELECT tenant_id, user_id, offset, envelope, at, except_socket, reason FROM inbox_dead_letters ORDER BY id DESC LIMIT ?',
      ),
    };
  }

  async append(t: TenantId, userIds: readonly UserId[], envelope: Envelope, exceptSocket: SocketId | null, now: number): Promise<{ offsets: Map<UserId, Offset>; deadLetters: InboxDeadLetter[] }> {
    const raw = encodeEnvelope(envelope);
    const users = new Set(userIds);
    return this.writer.write(() => {
        const offsets = new Map<UserId, Offset>();
        const deadLetters: InboxDeadLetter[] = [];
        // Kept once for all its users: a group message is one envelope, not one per member.
        const shared = users.size >= SHARE_FROM_USERS ? Number(this.q.share.run(raw, now).lastInsertRowid) : null;
        const inline = shared === null ? raw : NO_ENVELOPE;
        for (const u of users) {
          const { head, bytes } = this.q.bump.get(t, u, raw.byteLength)!;
          this.q.insert.run(t, u, head, inline, raw.byteLength, now, exceptSocket, shared);
          offsets.set(u, head);
          let left = bytes;
          const overCap = (row: EntryRow) => {
            if (left <= this.retention.maxBytes) return false;
            left -= row.bytes;
            return true;
          };
          if (bytes > this.retention.maxBytes) deadLetters.push(...this.removeLeading(t, u, overCap, 'size_cap', now));
        }
        // Each envelope kept deletes up to two that no entry points at any more (after its own
        // entries are in), so the table keeps pace with the entries whatever the sweeps do.
        if (shared !== null) this.q.unshare.run(now + 1, 2);
        return { offsets, deadLetters };
      });
  }

  async read(t: TenantId, u: UserId, after: Offset, limit: number): Promise<InboxRead> {
    // One read transaction: head, first offset and entries come from the same snapshot.
    return this.db.transaction(() => {
      const head = this.q.head.get(t, u)?.head ?? 0;
      const first = this.q.first.get(t, u)?.first ?? head + 1;
      const entries = limit > 0 ? this.q.after.all(t, u, after, limit).map(toEntry) : [];
      return { entries, head, lost: head > after && after < first - 1 };
    })();
  }

  async ack(t: TenantId, u: UserId, deviceId: DeviceId, offset: Offset): Promise<void> {
    await this.writer.write(() => {
        // Nothing beyond the head exists to be acknowledged.
        const upTo = Math.min(offset, this.q.head.get(t, u)?.head ?? 0);
        if (upTo > 0) this.q.ack.run(t, u, deviceId, upTo);
      });
  }

  async acked(t: TenantId, u: UserId, deviceId: DeviceId): Promise<Offset> {
    return this.q.acked.get(t, u, deviceId)?.offset ?? 0;
  }

  async expire(now: number, limit: number): Promise<{ inboxes: number; deadLetters: InboxDeadLetter[] }> {
    const cutoff = now - this.retention.maxAgeMs;
    return this.writer.write(() => {
        const deadLetters: InboxDeadLetter[] = [];
        const due = this.q.due.all(cutoff, limit);
        for (const { tenant_id, user_id } of due) {
          deadLetters.push(...this.removeLeading(asTenantId(tenant_id), asUserId(user_id), (row) => row.at < cutoff, 'expired', now));
        }
        this.q.trimDead.run(DEAD_LETTERS_KEPT);
        this.q.unshare.run(now + 1, limit);
        return { inboxes: due.length, deadLetters };
      });
  }

  async deadLetters(limit: number): Promise<InboxDeadLetter[]> {
    return this.q.newestDead.all(limit).map((r) => ({ tenantId: asTenantId(r.tenant_id), userId: asUserId(r.user_id), entry: toEntry(r), reason: r.reason }));
  }

  /**
   * Removes the user's oldest entries while `leaves` holds for them (so the retained entries
   * stay a contiguous run of offsets) and records those no device had acknowledged. Runs
   * inside the caller's transaction.
   */
  private removeLeading(t: TenantId, u: UserId, leaves: (row: EntryRow) => boolean, reason: DeadLetterReason, now: number): InboxDeadLetter[] {
    const removed: EntryRow[] = [];
    // Collected before writing: the connection cannot write while a statement iterates.
    for (const row of this.q.oldest.iterate(t, u)) {
      if (!leaves(row)) break;
      removed.push(row);
    }
    if (removed.length === 0) return [];
    this.q.removeUpTo.run(t, u, removed[removed.length - 1]!.offset);
    this.q.shrink.run(removed.reduce((sum, r) => sum + r.bytes, 0), t, u);
    const acked = this.q.maxAck.get(t, u)?.acked ?? 0;
    const dead = removed.filter((r) => r.offset > acked);
    for (const r of dead) this.q.dead.run(t, u, r.offset, r.envelope, r.at, r.except_socket, reason, now);
    return dead.map((r) => ({ tenantId: t, userId: u, entry: toEntry(r), reason }));
  }
}

function toEntry(r: Omit<EntryRow, 'bytes'>): InboxEntry {
  // A plain copy of the row's bytes: decoded binary fields are views into it, and must be Uint8Arrays, not Buffers.
  return { offset: r.offset, envelope: decode(new Uint8Array(r.envelope)) as Envelope, at: r.at, exceptSocket: r.except_socket === null ? null : asSocketId(r.except_socket) };
}

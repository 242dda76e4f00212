import { decode } from '@msgpack/msgpack';
import { encodeEnvelope } from '../codec/inbox-envelope.js';
import { asSocketId, asTenantId, asUserId, type DeviceId, type SocketId, type TenantId, type UserId } from '../../domain/ids.js';
import type { Envelope } from '../../domain/protocol/envelope.js';
import type { DeadLetterReason, Inbox, InboxDeadLetter, InboxEntry, InboxRead, InboxRetention, Offset } from '../../ports/inbox.js';
import type { SqliteDatabase } from './sqlite-database.js';
import { sqliteWriter, type SqliteWriter } from './sqlite-writer.js';

/** 7 days and 10 MB per user. */
const DEFAULT_RETENTION: InboxRetention = { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 10 * 1024 * 1024 };
/** The stream of events appended without one. */
const NO_STREAM = '';
/** The most entries whose sizes and ages are read per step while an inbox's oldest ones are removed. */
const REMOVE_STEP = 256;
/** The dead letters kept, newest (like the Redis stream's `MAXLEN`). */
const DEAD_LETTERS_KEPT = 100_000;

/** What retention looks at to decide whether an entry leaves. */
interface EntrySize {
  bytes: number;
  at: number;
}

interface EventRow extends EntrySize {
  n: number;
  envelope: Buffer;
  except_socket: string | null;
}

interface EntryRow extends EventRow {
  offset: number;
}

/** Offsets `lo..hi` of a user's inbox are events `lo − shift … hi − shift` of the stream. */
interface Span {
  streamId: number;
  shift: number;
  lo: number;
  hi: number;
}

interface RunRow {
  first_offset: number;
  stream_id: number;
  first_n: number;
}

interface DeadLetterRow {
  tenant_id: string;
  user_id: string;
  offset: number;
  envelope: Buffer;
  at: number;
  except_socket: string | null;
  reason: DeadLetterReason;
}

/**
 * Inboxes in SQLite, kept as runs (docs/decisions/006-inbox-runs.md). An event is stored
 * once, numbered in its stream (`inbox_events`, e.g. one stream per conversation), with the
 * count of inboxes holding it. A user's offsets a, a+1, … that are consecutive events of one
 * stream are one row of `inbox_runs`; `inbox_users` keeps per user the head, the first offset
 * still held (and its age), the bytes held and where the newest run stands. An append that
 * continues each member's run (a group's next message) therefore changes one small row per
 * member instead of inserting an entry per member.
 *
 * Every change is atomic (group-committed with the turn's other writes, `SqliteWriter`), so
 * processes sharing the file see each inbox change as a whole. Envelopes are MessagePack;
 * the size cap counts their bytes.
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
      nextInStream: db.prepare<[string, string], { id: number; n: number }>(
        `INSERT INTO inbox_streams (tenant_id, key, last_n) VALUES (?, ?, 1)
         ON CONFLICT (tenant_id, key) DO UPDATE SET last_n = last_n + 1 RETURNING id, last_n AS n`,
      ),
      event: db.prepare<[number, number, Uint8Array, number, number, string | null, number]>(
        'INSERT INTO inbox_events (stream_id, n, envelope, bytes, at, except_socket, refs) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      // Every user of an append in one statement (one call, not one per member). A user's run
      // goes on when their newest entry is the stream's previous event; otherwise a run starts
      // at the new head (run_first = head). `first_at` is set only for a new user, so its index
      // costs nothing per append to an existing one.
      bump: db.prepare<[{ t: string; users: string; bytes: number; at: number; stream: number; n: number }], { user_id: string; head: number; bytes: number; first: number; run_first: number }>(
        `INSERT INTO inbox_users (tenant_id, user_id, head, bytes, first, first_at, run_stream, run_n, run_first)
         SELECT @t, value, 1, @bytes, 1, @at, @stream, @n, 1 FROM json_each(@users) WHERE true
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET
           head = head + 1,
           bytes = bytes + excluded.bytes,
           run_first = CASE WHEN run_stream = excluded.run_stream AND run_n = excluded.run_n - 1 THEN run_first ELSE head + 1 END,
           run_stream = excluded.run_stream,
           run_n = excluded.run_n
         RETURNING user_id, head, bytes, first, run_first`,
      ),
      startRun: db.prepare<[string, string, number, number, number]>(
        'INSERT INTO inbox_runs (tenant_id, user_id, first_offset, stream_id, first_n) VALUES (?, ?, ?, ?, ?)',
      ),
      aged: db.prepare<[number, string, string]>('UPDATE inbox_users SET first_at = ? WHERE tenant_id = ? AND user_id = ?'),
      head: db.prepare<[string, string], { head: number; first: number }>('SELECT head, first FROM inbox_users WHERE tenant_id = ? AND user_id = ?'),
      // The run holding `offset` and the ones after it.
      runs: db.prepare<[string, string, string, string, number, number], RunRow>(
        `SELECT first_offset, stream_id, first_n FROM inbox_runs WHERE tenant_id = ? AND user_id = ?
           AND first_offset >= (SELECT max(first_offset) FROM inbox_runs WHERE tenant_id = ? AND user_id = ? AND first_offset <= ?)
         ORDER BY first_offset LIMIT ?`,
      ),
      events: db.prepare<[number, number, number], EventRow>(
        'SELECT n, envelope, bytes, at, except_socket FROM inbox_events WHERE stream_id = ? AND n BETWEEN ? AND ? ORDER BY n',
      ),
      sizes: db.prepare<[number, number, number], EntrySize & { n: number }>(
        'SELECT n, bytes, at FROM inbox_events WHERE stream_id = ? AND n BETWEEN ? AND ? ORDER BY n',
      ),
      // Runs that end before `offset` (the run holding it stays).
      dropRuns: db.prepare<[string, string, string, string, number]>(
        `DELETE FROM inbox_runs WHERE tenant_id = ? AND user_id = ?
           AND first_offset < (SELECT max(first_offset) FROM inbox_runs WHERE tenant_id = ? AND user_id = ? AND first_offset <= ?)`,
      ),
      trim: db.prepare<[number, number | null, number, string, string]>(
        'UPDATE inbox_users SET first = ?, first_at = ?, bytes = bytes - ? WHERE tenant_id = ? AND user_id = ?',
      ),
      release: db.prepare<[number, number, number]>('UPDATE inbox_events SET refs = refs - 1 WHERE stream_id = ? AND n BETWEEN ? AND ?'),
      unheld: db.prepare<[number, number, number]>('DELETE FROM inbox_events WHERE stream_id = ? AND n BETWEEN ? AND ? AND refs <= 0'),
      maxAck: db.prepare<[string, string], { acked: number | null }>('SELECT max(offset) AS acked FROM inbox_acks WHERE tenant_id = ? AND user_id = ?'),
      ack: db.prepare<[string, string, string, number]>(
        `INSERT INTO inbox_acks (tenant_id, user_id, device_id, offset) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant_id, user_id, device_id) DO UPDATE SET offset = max(offset, excluded.offset)`,
      ),
      acked: db.prepare<[string, string, string], { offset: number }>('SELECT offset FROM inbox_acks WHERE tenant_id = ? AND user_id = ? AND device_id = ?'),
      due: db.prepare<[number, number], { tenant_id: string; user_id: string }>('SELECT tenant_id, user_id FROM inbox_users WHERE first_at < ? LIMIT ?'),
      dead: db.prepare<[string, string, number, Uint8Array, number, string | null, DeadLetterReason, number]>(
        'INSERT INTO inbox_dead_letters (tenant_id, user_id, offset, envelope, at, except_socket, reason, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      trimDead: db.prepare<[number]>('DELETE FROM inbox_dead_letters WHERE id <= (SELECT max(id) FROM inbox_dead_letters) - ?'),
      newestDead: db.prepare<[number], DeadLetterRow>(
        'SELECT tenant_id, user_id, offset, envelope, at, except_socket, reason FROM inbox_dead_letters ORDER BY id DESC LIMIT ?',
      ),
    };
  }

  async append(t: TenantId, userIds: readonly UserId[], envelope: Envelope, exceptSocket: SocketId | null, now: number, stream?: string): Promise<{ offsets: Map<UserId, Offset>; deadLetters: InboxDeadLetter[] }> {
    const raw = encodeEnvelope(envelope);
    const users = [...new Set(userIds)];
    const list = JSON.stringify(users);
    return this.writer.write(() => {
      const offsets = new Map<UserId, Offset>();
      const deadLetters: InboxDeadLetter[] = [];
      if (users.length === 0) return { offsets, deadLetters };
      const { id: streamId, n } = this.q.nextInStream.get(t, stream ?? NO_STREAM)!;
      this.q.event.run(streamId, n, raw, raw.byteLength, now, exceptSocket, users.length);
      for (const h of this.q.bump.all({ t, users: list, bytes: raw.byteLength, at: now, stream: streamId, n })) {
        const u = asUserId(h.user_id);
        if (h.run_first === h.head) this.q.startRun.run(t, u, h.head, streamId, n);
        // The entry is the only one of an inbox that had been emptied: it gives the inbox its age.
        if (h.first === h.head && h.head > 1) this.q.aged.run(now, t, u);
        offsets.set(u, h.head);
        if (h.bytes > this.retention.maxBytes) {
          let left = h.bytes;
          const overCap = (row: EntrySize) => {
            if (left <= this.retention.maxBytes) return false;
            left -= row.bytes;
            return true;
          };
          deadLetters.push(...this.removeLeading(t, u, overCap, 'size_cap', now));
        }
      }
      return { offsets, deadLetters };
    });
  }

  async read(t: TenantId, u: UserId, after: Offset, limit: number): Promise<InboxRead> {
    // One read transaction: head, first offset and entries come from the same snapshot.
    return this.db.transaction(() => {
      const h = this.q.head.get(t, u);
      const head = h?.head ?? 0;
      const first = h?.first ?? 1;
      const from = Math.max(after + 1, first);
      const entries = limit > 0 && from <= head ? this.entriesFrom(t, u, from, head, limit).map(toEntry) : [];
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
      return { inboxes: due.length, deadLetters };
    });
  }

  async deadLetters(limit: number): Promise<InboxDeadLetter[]> {
    return this.q.newestDead.all(limit).map((r) => ({ tenantId: asTenantId(r.tenant_id), userId: asUserId(r.user_id), entry: toEntry(r), reason: r.reason }));
  }

  /** Where the user's offsets `from`… lie in the streams: up to `limit` of them (at most `head`), oldest first. */
  private spans(t: TenantId, u: UserId, from: Offset, head: Offset, limit: number): Span[] {
    // Every run holds at least one entry, so `limit` runs hold enough; one more gives the last one's end.
    const runs = this.q.runs.all(t, u, t, u, from, limit + 1);
    const out: Span[] = [];
    let left = limit;
    for (let i = 0; i < runs.length && left > 0; i++) {
      const run = runs[i]!;
      const end = i + 1 < runs.length ? runs[i + 1]!.first_offset - 1 : head;
      const lo = Math.max(from, run.first_offset);
      const hi = Math.min(end, lo + left - 1);
      if (lo > hi) continue;
      out.push({ streamId: run.stream_id, shift: run.first_offset - run.first_n, lo, hi });
      left -= hi - lo + 1;
    }
    return out;
  }

  /** Up to `limit` entries of the user from offset `from` (at most `head`), oldest first. */
  private entriesFrom(t: TenantId, u: UserId, from: Offset, head: Offset, limit: number): EntryRow[] {
    const out: EntryRow[] = [];
    for (const { streamId, shift, lo, hi } of this.spans(t, u, from, head, limit)) {
      for (const e of this.q.events.all(streamId, lo - shift, hi - shift)) out.push({ ...e, offset: e.n + shift });
    }
    return out;
  }

  /**
   * Removes the user's oldest entries while `leaves` holds for them (so the retained entries
   * stay a contiguous run of offsets), lets go of their events (an event no inbox holds is
   * deleted) and records those no device had acknowledged. Runs inside the caller's
   * transaction. The scan reads sizes and ages only, a few entries first and twice as many
   * each step: an inbox at its size cap loses one entry per append.
   */
  private removeLeading(t: TenantId, u: UserId, leaves: (entry: EntrySize) => boolean, reason: DeadLetterReason, now: number): InboxDeadLetter[] {
    const h = this.q.head.get(t, u);
    if (!h) return [];
    let next = h.first;
    let nextAt: number | null = null;
    let bytes = 0;
    /** The events let go of, as stretches of one stream. */
    const released: { streamId: number; from: number; to: number }[] = [];
    let step = 8;
    scan: while (next <= h.head) {
      const before = next;
      for (const { streamId, shift, lo, hi } of this.spans(t, u, next, h.head, step)) {
        for (const e of this.q.sizes.all(streamId, lo - shift, hi - shift)) {
          if (!leaves(e)) {
            nextAt = e.at;
            break scan;
          }
          bytes += e.bytes;
          const last = released.at(-1);
          if (last?.streamId === streamId && last.to === e.n - 1) last.to = e.n;
          else released.push({ streamId, from: e.n, to: e.n });
          next = e.n + shift + 1;
        }
      }
      if (next === before) break;
      step = Math.min(step * 2, REMOVE_STEP);
    }
    if (next === h.first) return [];
    // The removed entries no device acknowledged, read in full before their runs go.
    const acked = this.q.maxAck.get(t, u)?.acked ?? 0;
    const deadFrom = Math.max(h.first, acked + 1);
    const dead = deadFrom < next ? this.entriesFrom(t, u, deadFrom, next - 1, next - deadFrom) : [];
    this.q.trim.run(next, nextAt, bytes, t, u);
    // The run holding the new first offset stays; with nothing left, the run holding the head
    // does (the next append may continue it).
    this.q.dropRuns.run(t, u, t, u, Math.min(next, h.head));
    for (const r of released) {
      this.q.release.run(r.streamId, r.from, r.to);
      this.q.unheld.run(r.streamId, r.from, r.to);
    }
    for (const r of dead) this.q.dead.run(t, u, r.offset, r.envelope, r.at, r.except_socket, reason, now);
    return dead.map((r) => ({ tenantId: t, userId: u, entry: toEntry(r), reason }));
  }
}

function toEntry(r: { offset: number; envelope: Buffer; at: number; except_socket: string | null }): InboxEntry {
  // A plain copy of the row's bytes: decoded binary fields are views into it, and must be Uint8Arrays, not Buffers.
  return { offset: r.offset, envelope: decode(new Uint8Array(r.envelope)) as Envelope, at: r.at, exceptSocket: r.except_socket === null ? null : asSocketId(r.except_socket) };
}

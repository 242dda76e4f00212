import { decode } from '@msgpack/msgpack';
import { encodeEnvelope } from '../codec/inbox-envelope.js';
import { asSocketId, asTenantId, asUserId, type DeviceId, type SocketId, type TenantId, type UserId } from '../../domain/ids.js';
import type { Envelope } from '../../domain/protocol/envelope.js';
import type { DeadLetterReason, Inbox, InboxDeadLetter, InboxEntry, InboxRead, InboxRetention, Offset } from '../../ports/inbox.js';
import type { RedisCommands } from './redis-connection.js';
import { userTag } from './redis-keys.js';

/** 7 days and 10 MB per user. */
const DEFAULT_RETENTION: InboxRetention = { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 10 * 1024 * 1024 };
/** The dead-letter stream keeps about this many entries. */
const DEAD_LETTERS_KEPT = 100_000;
/** Entries one retention script removes at most, so that Redis is never blocked for long. */
const TRIM_BATCH = 1_000;

/**
 * Keys. A user's stream and hash share the user's hash tag, so one script changes them
 * together. The index and the dead letters are one key each (one Cluster slot), written by
 * their own commands after the user's script.
 */
export const redisInboxKeys = {
  /** The entries: id `{offset}-0`, fields `e` (envelope), `b` (bytes), `at`, `x` (except socket, '' for none). */
  log: (t: TenantId, u: UserId) => `sb:inbox:${userTag(t, u)}:log`,
  /** `head`, `bytes`, `acked` (the highest ack of any device) and `d:{deviceId}` per device. */
  meta: (t: TenantId, u: UserId) => `sb:inbox:${userTag(t, u)}:meta`,
  /** Inboxes (`tenant/user`) scored by the time of their first entry, or earlier. */
  due: 'sb:inbox:due',
  dead: 'sb:inbox:dead',
};

// Shared by the scripts: stream fields as a table, and the offset of an entry id.
const LUA_HELPERS = `
local function fields(list) local t = {} for i = 1, #list, 2 do t[list[i]] = list[i + 1] end return t end
local function offsetOf(id) return tonumber(string.match(id, '^(%d+)')) end
local function dropBefore(key, meta, lastId, freed)
  redis.call('XTRIM', key, 'MINID', string.format('%d-0', offsetOf(lastId) + 1))
  redis.call('HINCRBY', meta, 'bytes', string.format('%d', -freed))
  if redis.call('XLEN', key) == 0 then redis.call('DEL', key) end
end
local function firstAt(key)
  local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
  if #first == 0 then return '' end
  return fields(first[1][2]).at
end`;

/**
 * KEYS: log, meta. ARGV: envelope, bytes, at, except socket, max bytes.
 * Appends at the next offset, then drops the oldest entries while the inbox is over the cap.
 * Returns {offset, time of the first entry ('' if none), dead letters as {id, e, at, x}}.
 */
const APPEND = `${LUA_HELPERS}
local head = redis.call('HINCRBY', KEYS[2], 'head', 1)
local bytes = redis.call('HINCRBY', KEYS[2], 'bytes', ARGV[2])
redis.call('XADD', KEYS[1], string.format('%d-0', head), 'e', ARGV[1], 'b', ARGV[2], 'at', ARGV[3], 'x', ARGV[4])
local max = tonumber(ARGV[5])
local dead = {}
if bytes > max then
  local acked = tonumber(redis.call('HGET', KEYS[2], 'acked') or '0')
  local freed, lastId, from = 0, nil, '-'
  while bytes - freed > max do
    local batch = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 100)
    if #batch == 0 then break end
    for _, e in ipairs(batch) do
      if bytes - freed <= max then break end
      local f = fields(e[2])
      freed = freed + tonumber(f.b)
      lastId = e[1]
      if offsetOf(e[1]) > acked then dead[#dead + 1] = {e[1], f.e, f.at, f.x} end
    end
    from = '(' .. lastId
  end
  if lastId then dropBefore(KEYS[1], KEYS[2], lastId, freed) end
end
return {head, firstAt(KEYS[1]), dead}`;

/**
 * KEYS: log, meta. ARGV: after, first id to read, limit.
 * Returns {head, lost (0/1), entries}; all from one moment.
 */
const READ = `${LUA_HELPERS}
local head = tonumber(redis.call('HGET', KEYS[2], 'head') or '0')
local after = tonumber(ARGV[1])
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local firstOffset = head + 1
if #first > 0 then firstOffset = offsetOf(first[1][1]) end
local lost = 0
if head > after and after < firstOffset - 1 then lost = 1 end
local entries = {}
if tonumber(ARGV[3]) > 0 then entries = redis.call('XRANGE', KEYS[1], ARGV[2], '+', 'COUNT', ARGV[3]) end
return {head, lost, entries}`;

/** KEYS: meta. ARGV: device, offset. Cumulative, never beyond the head. */
const ACK = `
local head = tonumber(redis.call('HGET', KEYS[1], 'head') or '0')
local upTo = math.min(tonumber(ARGV[2]), head)
local field = 'd:' .. ARGV[1]
if upTo > tonumber(redis.call('HGET', KEYS[1], field) or '0') then redis.call('HSET', KEYS[1], field, string.format('%d', upTo)) end
if upTo > tonumber(redis.call('HGET', KEYS[1], 'acked') or '0') then redis.call('HSET', KEYS[1], 'acked', string.format('%d', upTo)) end
return 1`;

/**
 * KEYS: log, meta. ARGV: cutoff, batch.
 * Drops the leading entries older than the cutoff (at most a batch), so the retained entries
 * stay a contiguous run of offsets. Returns {dead letters, time of the first entry left ('' if
 * none), 1 if a full batch went and more may be due}.
 */
const TRIM = `${LUA_HELPERS}
local cutoff = tonumber(ARGV[1])
local acked = tonumber(redis.call('HGET', KEYS[2], 'acked') or '0')
local batch = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2])
local dead, freed, lastId, removed = {}, 0, nil, 0
for _, e in ipairs(batch) do
  local f = fields(e[2])
  if tonumber(f.at) >= cutoff then break end
  freed = freed + tonumber(f.b)
  lastId = e[1]
  removed = removed + 1
  if offsetOf(e[1]) > acked then dead[#dead + 1] = {e[1], f.e, f.at, f.x} end
end
if lastId then dropBefore(KEYS[1], KEYS[2], lastId, freed) end
local more = 0
if removed == tonumber(ARGV[2]) then more = 1 end
return {dead, firstAt(KEYS[1]), more}`;

/** KEYS: log. The time of the first entry ('' if none). */
const FIRST_AT = `${LUA_HELPERS}
return firstAt(KEYS[1])`;

/** KEYS: due. ARGV: score, member, score, member… Lowers scores (adds new members). */
const INDEX_LOWER = `
for i = 1, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'LT', ARGV[i], ARGV[i + 1]) end
return 1`;
/** KEYS: due. ARGV: score, member. Raises the score of a member still there. */
const INDEX_RAISE = `return redis.call('ZADD', KEYS[1], 'XX', 'GT', ARGV[1], ARGV[2])`;
/** KEYS: due. ARGV: cutoff, limit. */
const INDEX_DUE = `return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])`;

/** KEYS: dead. ARGV: max length, then 7 fields per dead letter. */
const DEAD_ADD = `
for i = 2, #ARGV, 7 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 't', ARGV[i], 'u', ARGV[i + 1], 'o', ARGV[i + 2], 'e', ARGV[i + 3], 'at', ARGV[i + 4], 'x', ARGV[i + 5], 'r', ARGV[i + 6])
end
return 1`;
/** KEYS: dead. ARGV: count. */
const DEAD_NEWEST = `return redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[1])`;

/** A stream entry as a script returns it: id and flat field list. */
type RawStreamEntry = [string, string[]];
/** A dead letter as the append and trim scripts return it. */
type RawDeadEntry = [id: string, envelope: string, at: string, exceptSocket: string];
/** A dead letter on its way to the dead-letter stream. */
interface DeadEntry {
  t: TenantId;
  u: UserId;
  raw: RawDeadEntry;
  reason: DeadLetterReason;
}

/**
 * Inboxes in Redis: per user a stream whose ids are the offsets (`{offset}-0`) and a hash
 * with the head, the bytes held and the acks; one Lua script per user and operation keeps
 * them consistent, so appends, trims and acks are atomic per user (also in a Cluster).
 *
 * Envelopes are MessagePack, stored as base64 (the scripts and the shared command
 * connection speak strings); the size cap counts the MessagePack bytes.
 *
 * Retention: a sorted set indexes the inboxes by the time of their first entry (a lower
 * bound), so `expire` finds the due ones with `ZRANGEBYSCORE … LIMIT` instead of scanning
 * keys, then trims each inbox with its own script. In a Cluster that index, like the
 * dead-letter stream (a stream capped at about 100 000 entries), lives in one slot and is
 * written after the user's script: a crash in between can lose dead-letter records or
 * leave an index score too low (harmless: the next sweep finds nothing to trim and fixes it).
 */
export class RedisInbox implements Inbox {
  private readonly retention: InboxRetention;

  constructor(
    private readonly redis: RedisCommands,
    retention: Partial<InboxRetention> = {},
  ) {
    this.retention = { ...DEFAULT_RETENTION, ...retention };
  }

  async append(t: TenantId, userIds: readonly UserId[], envelope: Envelope, exceptSocket: SocketId | null, now: number): Promise<{ offsets: Map<UserId, Offset>; deadLetters: InboxDeadLetter[] }> {
    const raw = encodeEnvelope(envelope);
    const args = [Buffer.from(raw).toString('base64'), String(raw.byteLength), String(now), exceptSocket ?? '', String(this.retention.maxBytes)];
    const users = [...new Set(userIds)];
    const results = await Promise.all(
      users.map(async (u) => {
        const [offset, firstAt, dead] = (await this.redis.eval(APPEND, { keys: [redisInboxKeys.log(t, u), redisInboxKeys.meta(t, u)], arguments: args })) as [number, string, RawDeadEntry[]];
        return { u, offset: Number(offset), firstAt, dead: dead.map((raw): DeadEntry => ({ t, u, raw, reason: 'size_cap' })) };
      }),
    );
    const offsets = new Map(results.map((r) => [r.u, r.offset]));
    const dead = results.flatMap((r) => r.dead);
    // After the users' scripts: a sweep that just found an inbox empty re-checks it after removing it from the index.
    const scores = results.filter((r) => r.firstAt !== '').flatMap((r) => [r.firstAt, `${t}/${r.u}`]);
    if (scores.length > 0) await this.redis.eval(INDEX_LOWER, { keys: [redisInboxKeys.due], arguments: scores });
    await this.keepDeadLetters(dead);
    return { offsets, deadLetters: dead.map(toDeadLetter) };
  }

  async read(t: TenantId, u: UserId, after: Offset, limit: number): Promise<InboxRead> {
    const from = `${Math.max(0, after) + 1}-0`;
    const [head, lost, entries] = (await this.redis.eval(READ, { keys: [redisInboxKeys.log(t, u), redisInboxKeys.meta(t, u)], arguments: [String(after), from, String(limit)] })) as [
      number,
      number,
      RawStreamEntry[],
    ];
    return { entries: entries.map(toEntry), head: Number(head), lost: Number(lost) === 1 };
  }

  async ack(t: TenantId, u: UserId, deviceId: DeviceId, offset: Offset): Promise<void> {
    await this.redis.eval(ACK, { keys: [redisInboxKeys.meta(t, u)], arguments: [deviceId, String(offset)] });
  }

  async acked(t: TenantId, u: UserId, deviceId: DeviceId): Promise<Offset> {
    return Number((await this.redis.hGet(redisInboxKeys.meta(t, u), `d:${deviceId}`)) ?? 0);
  }

  async expire(now: number, limit: number): Promise<{ inboxes: number; deadLetters: InboxDeadLetter[] }> {
    const cutoff = now - this.retention.maxAgeMs;
    const due = (await this.redis.eval(INDEX_DUE, { keys: [redisInboxKeys.due], arguments: [String(cutoff), String(limit)] })) as string[];
    const dead = (await Promise.all(due.map((member) => this.trim(member, cutoff)))).flat();
    await this.keepDeadLetters(dead);
    return { inboxes: due.length, deadLetters: dead.map(toDeadLetter) };
  }

  async deadLetters(limit: number): Promise<InboxDeadLetter[]> {
    if (limit <= 0) return [];
    const entries = (await this.redis.eval(DEAD_NEWEST, { keys: [redisInboxKeys.dead], arguments: [String(limit)] })) as RawStreamEntry[];
    return entries.map(([, list]) => {
      const f = fieldsOf(list);
      return toDeadLetter({ t: asTenantId(f.t ?? ''), u: asUserId(f.u ?? ''), raw: [`${f.o}-0`, f.e ?? '', f.at ?? '0', f.x ?? ''], reason: f.r as DeadLetterReason });
    });
  }

  /** Trims one indexed inbox (`tenant/user`) and brings its index score up to date. */
  private async trim(member: string, cutoff: number): Promise<DeadEntry[]> {
    const slash = member.indexOf('/');
    const t = asTenantId(member.slice(0, slash));
    const u = asUserId(member.slice(slash + 1));
    const keys = [redisInboxKeys.log(t, u), redisInboxKeys.meta(t, u)];
    const deadLetters: DeadEntry[] = [];
    let firstAt: string;
    let more: number;
    do {
      let dead: RawDeadEntry[];
      [dead, firstAt, more] = (await this.redis.eval(TRIM, { keys, arguments: [String(cutoff), String(TRIM_BATCH)] })) as [RawDeadEntry[], string, number];
      deadLetters.push(...dead.map((raw): DeadEntry => ({ t, u, raw, reason: 'expired' })));
    } while (Number(more) === 1);
    if (firstAt !== '') {
      await this.redis.eval(INDEX_RAISE, { keys: [redisInboxKeys.due], arguments: [firstAt, member] });
      return deadLetters;
    }
    // Empty: out of the index, unless an append came in meanwhile (its own index update
    // may have run before this removal, so look again after it).
    await this.redis.zRem(redisInboxKeys.due, member);
    const again = (await this.redis.eval(FIRST_AT, { keys: [keys[0]!], arguments: [] })) as string;
    if (again !== '') await this.redis.eval(INDEX_LOWER, { keys: [redisInboxKeys.due], arguments: [again, member] });
    return deadLetters;
  }

  private async keepDeadLetters(dead: readonly DeadEntry[]): Promise<void> {
    if (dead.length === 0) return;
    const args = [String(DEAD_LETTERS_KEPT)];
    for (const { t, u, raw: [id, envelope, at, exceptSocket], reason } of dead) args.push(t, u, String(parseInt(id, 10)), envelope, at, exceptSocket, reason);
    await this.redis.eval(DEAD_ADD, { keys: [redisInboxKeys.dead], arguments: args });
  }
}

function fieldsOf(list: readonly string[]): Record<string, string | undefined> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) fields[list[i]!] = list[i + 1]!;
  return fields;
}

function decodeEnvelope(base64: string): Envelope {
  // A copy of its own (not a pooled Buffer), so binary fields decode as Uint8Array views of private memory.
  return decode(new Uint8Array(Buffer.from(base64, 'base64'))) as Envelope;
}

function toEntry([id, list]: RawStreamEntry): InboxEntry {
  const f = fieldsOf(list);
  return { offset: parseInt(id, 10), envelope: decodeEnvelope(f.e ?? ''), at: Number(f.at), exceptSocket: f.x ? asSocketId(f.x) : null };
}

function toDeadLetter({ t, u, raw: [id, envelope, at, exceptSocket], reason }: DeadEntry): InboxDeadLetter {
  return { tenantId: t, userId: u, reason, entry: { offset: parseInt(id, 10), envelope: decodeEnvelope(envelope), at: Number(at), exceptSocket: exceptSocket ? asSocketId(exceptSocket) : null } };
}

import type { ConversationId, Seq, TenantId, UserId } from '../../domain/ids.js';
import type { Message } from '../../domain/model.js';
import type { MessageSequencer } from '../../ports/message-sequencer.js';
import type { NewMessage } from '../../ports/message-store.js';
import { decodeMessageRecord, encodeMessageRecord } from '../codec/message-record.js';
import type { RedisCommands } from './redis-connection.js';

export interface RedisMessageSequencerOptions {
  /** How long a (conversation, sender, clientMessageId) is remembered after its message was accepted (default 7 days). */
  dedupWindowMs: number;
  /**
   * The newest seq the store holds for a conversation: where numbering goes on when Redis
   * has no counter for it (a new conversation, or a Redis that lost its data). Default: 0.
   */
  floor: (tenantId: TenantId, conversationId: ConversationId) => Promise<Seq>;
}

const DEFAULTS: RedisMessageSequencerOptions = { dedupWindowMs: 7 * 24 * 3600 * 1000, floor: async () => 0 };

/** A conversation's keys share this hash tag, so one script handles them in one Cluster slot. Ids cannot contain '/'. */
const conversationTag = (t: TenantId, c: ConversationId): string => `{${t}/${c}}`;

export const redisSequencerKeys = {
  /** Hash with field `last`: the conversation's newest seq. */
  seq: (t: TenantId, c: ConversationId) => `sb:seq:${conversationTag(t, c)}`,
  /** The accepted message, as `{seq}:{record}`, expiring with the dedup window. */
  dedup: (t: TenantId, c: ConversationId, sender: UserId, clientMessageId: string) => `sb:dedup:${conversationTag(t, c)}:${sender}/${clientMessageId}`,
  /** Sorted set of `{seq}:{record}` scored by seq: accepted and not stored yet. */
  tail: (t: TenantId, c: ConversationId) => `sb:tail:${conversationTag(t, c)}`,
};

/**
 * KEYS: dedup, seq, tail. ARGV: record, window (ms), floor ('' when not read yet).
 * Returns {1, first value} for a repeat, {2, ''} when the counter is missing and the floor
 * is needed, else {0, value} with the next seq.
 */
const ACCEPT = `
local seen = redis.call('GET', KEYS[1])
if seen then return {1, seen} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  if ARGV[3] == '' then return {2, ''} end
  redis.call('HSETNX', KEYS[2], 'last', ARGV[3])
end
local value = string.format('%d', redis.call('HINCRBY', KEYS[2], 'last', 1)) .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
redis.call('ZADD', KEYS[3], string.match(value, '^(%d+)'), value)
return {0, value}`;

/** KEYS: tail. ARGV: seqs. */
const STORED = `
for _, seq in ipairs(ARGV) do redis.call('ZREMRANGEBYSCORE', KEYS[1], seq, seq) end
return 1`;

/**
 * The sequencer in Redis: per conversation a counter, a dedup key per (sender,
 * clientMessageId) that Redis expires after the window (`PX`), and the tail as a sorted set
 * by seq; one Lua script accepts atomically. A message is MessagePack (base64, with seq 0:
 * the script prefixes the seq it assigns). A counter Redis does not have starts from the
 * store's newest seq (one more round trip, once per conversation), so numbers are never
 * reused after Redis lost its data — as far as the store has caught up with the log.
 */
export class RedisMessageSequencer implements MessageSequencer {
  readonly storesOnAccept = false;
  private readonly options: RedisMessageSequencerOptions;

  constructor(
    private readonly redis: RedisCommands,
    options: Partial<RedisMessageSequencerOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  async accept(m: NewMessage): Promise<{ message: Message; duplicate: boolean }> {
    const record = Buffer.from(encodeMessageRecord({ ...m, seq: 0, editedAt: null, deletedAt: null, reactions: [] })).toString('base64');
    const keys = [redisSequencerKeys.dedup(m.tenantId, m.conversationId, m.senderId, m.clientMessageId), redisSequencerKeys.seq(m.tenantId, m.conversationId), redisSequencerKeys.tail(m.tenantId, m.conversationId)];
    const window = String(Math.max(1, Math.round(this.options.dedupWindowMs)));
    let [outcome, value] = (await this.redis.eval(ACCEPT, { keys, arguments: [record, window, ''] })) as [number, string];
    if (Number(outcome) === 2) {
      const floor = await this.options.floor(m.tenantId, m.conversationId);
      [outcome, value] = (await this.redis.eval(ACCEPT, { keys, arguments: [record, window, String(floor)] })) as [number, string];
    }
    return { message: decodeValue(value), duplicate: Number(outcome) === 1 };
  }

  async recent(t: TenantId, c: ConversationId): Promise<Message[]> {
    return (await this.redis.zRangeByScore(redisSequencerKeys.tail(t, c), '-inf', '+inf')).map(decodeValue);
  }

  async lastSeqs(t: TenantId, conversationIds: readonly ConversationId[]): Promise<Map<ConversationId, Seq>> {
    const seqs = await Promise.all(
      conversationIds.map(async (c) => {
        const last = await this.redis.hGet(redisSequencerKeys.seq(t, c), 'last');
        return last === null || last === undefined ? this.options.floor(t, c) : Number(last);
      }),
    );
    return new Map(conversationIds.map((c, i) => [c, seqs[i]!]));
  }

  async stored(messages: readonly Message[]): Promise<void> {
    const byTail = new Map<string, string[]>();
    for (const m of messages) {
      const key = redisSequencerKeys.tail(m.tenantId, m.conversationId);
      const seqs = byTail.get(key) ?? [];
      seqs.push(String(m.seq));
      byTail.set(key, seqs);
    }
    await Promise.all([...byTail].map(([key, seqs]) => this.redis.eval(STORED, { keys: [key], arguments: seqs })));
  }
}

/** `{seq}:{base64 record}` back to the message. */
function decodeValue(value: string): Message {
  const colon = value.indexOf(':');
  const decoded = decodeMessageRecord(new Uint8Array(Buffer.from(value.slice(colon + 1), 'base64')));
  if (!decoded.message) throw new Error(`An accepted message cannot be read: ${decoded.error}`);
  return { ...decoded.message, seq: Number(value.slice(0, colon)) };
}

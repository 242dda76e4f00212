import type { Message } from '../../domain/model.js';
import type { DurableLog, LogConsumer, LogConsumerOptions, LogEntry } from '../../ports/durable-log.js';
import type { Logger } from '../../ports/logger.js';
import { encodeMessageRecord, toLogEntry } from '../codec/message-record.js';
import { ConsumerState, runConsumerLoop } from '../log-consumer/consumer-loop.js';
import type { RedisLogClient, RedisLogConnection } from './redis-log-client.js';

export interface RedisDurableLogOptions {
  /** Partition streams (default 16). Changing it moves conversations to other partitions: drain the log first. */
  partitions: number;
  /** Entries pending this long with a member are taken over by another member of the group (default 30 s). */
  claimIdleMs: number;
  /** How often a member looks for such entries (default a third of `claimIdleMs`). */
  claimIntervalMs?: number;
  /** Longest blocking read (default 2 s; 200 ms on a Cluster, where a read waits on one partition). */
  blockMs?: number;
  /** How often a member that cannot block (Sentinel) polls (default 100 ms). */
  pollIntervalMs: number;
  /** Trimming on append: entries older than `maxAgeMs` (`MINID ~`) or beyond `maxLen` per partition (`MAXLEN ~`) (default 7 days). */
  retention: { maxAgeMs: number } | { maxLen: number };
  /** The dead-letter stream keeps about this many entries (default 100 000). */
  deadLetterMaxLen: number;
}

const DEFAULTS: RedisDurableLogOptions = {
  partitions: 16,
  claimIdleMs: 30_000,
  pollIntervalMs: 100,
  retention: { maxAgeMs: 7 * 24 * 3600 * 1000 },
  deadLetterMaxLen: 100_000,
};

/**
 * Stream keys. Each partition carries its own hash tag, so partitions spread over a Cluster's
 * slots and every command touches one slot.
 */
export const redisLogKeys = {
  partition: (p: number) => `sb:log:{${p}}`,
  deadLetters: 'sb:log:dead',
};

/** The stream field that holds the MessagePack record. */
export const RECORD_FIELD = 'record';

/** The partition of a conversation: FNV-1a of `tenant/conversation`, stable across processes and releases. */
export function partitionOf(tenantId: string, conversationId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(`${tenantId}/${conversationId}`)) hash = Math.imul(hash ^ byte, 0x01000193);
  return (hash >>> 0) % partitions;
}

interface StreamEntry {
  id: string;
  /** Null when the entry was trimmed away while pending. */
  fields: Buffer[] | null;
}

/**
 * The durable log on Redis Streams: N partition streams, a conversation's records in one of
 * them, consumer groups with `XREADGROUP`, `XACK` once the handler resolved, and `XAUTOCLAIM`
 * of entries another member left pending for `claimIdleMs`. A member restarted under the same
 * name first re-reads its own pending entries. Retention trims on append.
 *
 * Order: a member handles one partition's batch at a time, in stream order. Members of a
 * group share partitions, so two members may hold neighbouring records of one conversation
 * at the same time, and entries taken over from a dead member come after newer ones: the
 * handler must not depend on cross-batch order (messages carry their `seq`).
 */
export class RedisDurableLog implements DurableLog {
  private readonly options: RedisDurableLogOptions;
  private readonly keys: string[];
  private readonly running = new Set<{ abandon(): Promise<void> }>();

  constructor(
    private readonly client: RedisLogClient,
    private readonly logger: Logger,
    options: Partial<RedisDurableLogOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.keys = Array.from({ length: this.options.partitions }, (_, p) => redisLogKeys.partition(p));
  }

  async append(messages: readonly Message[]): Promise<void> {
    const trim = this.trimArgs();
    // Commands on one connection (one per Cluster node) reach Redis in call order, so a
    // conversation's records keep their order within the partition.
    await Promise.all(
      messages.map((m) => {
        const key = this.keys[partitionOf(m.tenantId, m.conversationId, this.options.partitions)]!;
        return this.client.send(key, ['XADD', key, ...trim, '*', RECORD_FIELD, Buffer.from(encodeMessageRecord(m))]);
      }),
    );
  }

  consume(options: LogConsumerOptions, handler: (entries: LogEntry[]) => Promise<void>): LogConsumer {
    const member = new GroupMember(this.client, this.keys, options, this.options, new ConsumerState(handler, this.logger, { backend: 'redis', ...options }), this.logger);
    const loop = runConsumerLoop(member.state, member, this.logger);
    this.running.add(loop);
    return {
      stop: async () => {
        await loop.stop();
        this.running.delete(loop);
      },
    };
  }

  async deadLetter(entries: readonly { entry: LogEntry; reason: string }[]): Promise<void> {
    const key = redisLogKeys.deadLetters;
    const cap = ['MAXLEN', '~', String(this.options.deadLetterMaxLen)];
    await Promise.all(
      entries.map(({ entry, reason }) =>
        this.client.send(key, ['XADD', key, ...cap, '*', 'id', entry.id, 'reason', reason, RECORD_FIELD, Buffer.from(entry.raw), 'at', String(Date.now())]),
      ),
    );
  }

  /** Abandons the running consumers, as a process exit would: their pending entries are re-read on restart or claimed. The shared client stays open. */
  async close(): Promise<void> {
    const running = [...this.running];
    this.running.clear();
    await Promise.all(running.map((c) => c.abandon()));
  }

  private trimArgs(): string[] {
    const r = this.options.retention;
    return 'maxLen' in r ? ['MAXLEN', '~', String(r.maxLen)] : ['MINID', '~', `${Date.now() - r.maxAgeMs}-0`];
  }
}

/** One consumer: its loop steps, its dedicated connection and its heartbeats. */
class GroupMember {
  private conn: RedisLogConnection | null = null;
  private ready = false;
  /** Re-read this member's own pending entries before new ones (at start, and after a failure). */
  private recoverPending = true;
  private nextClaimAt = 0;
  private readonly claimCursor: string[];
  private rotation = 0;
  /** CLIENT ID of the dedicated connection (single Redis), which stop() unblocks. */
  private connId: string | null = null;
  private readonly claimIntervalMs: number;
  private readonly blockMs: number;

  constructor(
    private readonly client: RedisLogClient,
    private readonly keys: string[],
    private readonly consumer: LogConsumerOptions,
    private readonly options: RedisDurableLogOptions,
    readonly state: ConsumerState,
    private readonly logger: Logger,
  ) {
    this.claimCursor = keys.map(() => '0-0');
    this.claimIntervalMs = options.claimIntervalMs ?? Math.max(10, Math.floor(options.claimIdleMs / 3));
    this.blockMs = options.blockMs ?? (client.kind === 'cluster' ? 200 : 2000);
  }

  step = async (): Promise<boolean> => {
    await this.prepare();
    if (this.recoverPending) {
      if (await this.readOwnPending()) return true;
      this.recoverPending = false;
    }
    if (Date.now() >= this.nextClaimAt) {
      if (await this.claimIdle()) return true;
      this.nextClaimAt = Date.now() + this.claimIntervalMs;
    }
    const { partitions } = this.options;
    if (this.client.kind !== 'cluster') {
      // One read over every partition (they share a node): an idle look costs one command.
      const batches = parseEntries(await this.read(this.keys.map((_, p) => p), '>'), this.keys);
      if (batches.length === 0) return false;
      await this.handle(batches);
      return true;
    }
    for (let i = 0; i < partitions && !this.state.stopped; i++) {
      const p = (this.rotation + i) % partitions;
      const entries = parseEntries(await this.read([p], '>'), this.keys)[0]?.entries ?? [];
      if (entries.length === 0) continue;
      this.rotation = p + 1;
      await this.handle([{ p, entries }]);
      return true;
    }
    return false;
  };

  idle = async (): Promise<void> => {
    // Wake up in time for the next look at idle entries.
    const wait = Math.min(this.blockMs, this.nextClaimAt - Date.now());
    if (wait <= 0) return;
    if (!this.conn) return this.state.sleep(Math.min(wait, this.options.pollIntervalMs));
    const partitions = this.client.kind === 'cluster' ? [this.rotation++ % this.options.partitions] : this.keys.map((_, p) => p);
    const batches = parseEntries(await this.blockingRead(this.conn, partitions, wait), this.keys);
    if (batches.length > 0) await this.handle(batches);
  };

  failed = (err: unknown): void => {
    this.recoverPending = true;
    // The connection may have been re-established under another id.
    this.connId = null;
    if (String(err).includes('NOGROUP')) this.ready = false;
  };

  cleanup = async (): Promise<void> => {
    await this.conn?.close();
    this.conn = null;
    this.connId = null;
  };

  /** Creates the group on every partition (idempotent) and opens the dedicated connection. */
  private async prepare(): Promise<void> {
    if (this.ready) return;
    await Promise.all(
      this.keys.map((key) =>
        this.client.send(key, ['XGROUP', 'CREATE', key, this.consumer.group, '0', 'MKSTREAM']).catch((err: unknown) => {
          if (!String(err).includes('BUSYGROUP')) throw err;
        }),
      ),
    );
    this.conn ??= await this.client.dedicated(this.state.signal);
    this.ready = true;
  }

  /** One batch of this member's own pending entries (left by its previous life), if any. */
  private async readOwnPending(): Promise<boolean> {
    for (let p = 0; p < this.keys.length && !this.state.stopped; p++) {
      const entries = parseEntries(await this.read([p], '0'), this.keys)[0]?.entries ?? [];
      if (entries.length === 0) continue;
      await this.handle([{ p, entries }]);
      return true;
    }
    return false;
  }

  /** One batch of entries that other members left pending for `claimIdleMs`, if any. */
  private async claimIdle(): Promise<boolean> {
    const { group, consumer, batchSize } = this.consumer;
    for (let p = 0; p < this.keys.length && !this.state.stopped; p++) {
      const key = this.keys[p]!;
      const reply = (await this.client.send(key, ['XAUTOCLAIM', key, group, consumer, String(this.options.claimIdleMs), this.claimCursor[p]!, 'COUNT', String(batchSize)])) as [Buffer, RawEntry[], Buffer[]?];
      this.claimCursor[p] = reply[0].toString();
      const entries = reply[1].map(toStreamEntry);
      if (entries.length === 0) continue;
      this.logger.info({ ...this.state.context, partition: p, entries: entries.length }, 'durable log entries taken over from an idle member');
      await this.handle([{ p, entries }]);
      return true;
    }
    return false;
  }

  private read(partitions: number[], from: '>' | '0'): Promise<unknown> {
    const keys = partitions.map((p) => this.keys[p]!);
    const { group, consumer, batchSize } = this.consumer;
    return (this.conn ?? this.client).send(keys[0]!, ['XREADGROUP', 'GROUP', group, consumer, 'COUNT', String(batchSize), 'STREAMS', ...keys, ...keys.map(() => from)]);
  }

  /** A blocking read on the dedicated connection; stop() unblocks it, abandon() drops the connection. */
  private async blockingRead(conn: RedisLogConnection, partitions: number[], blockMs: number): Promise<unknown> {
    const keys = partitions.map((p) => this.keys[p]!);
    const { group, consumer, batchSize } = this.consumer;
    if (this.client.kind === 'single' && this.connId === null) this.connId = String(await conn.send('', ['CLIENT', 'ID']));
    const clientId = this.connId;
    const interrupt = () => {
      if (this.state.abandoned) void conn.close();
      else if (clientId) this.client.send('', ['CLIENT', 'UNBLOCK', clientId]).catch(() => undefined);
    };
    if (this.state.signal.aborted) return null;
    this.state.signal.addEventListener('abort', interrupt, { once: true });
    try {
      return await conn.send(keys[0]!, ['XREADGROUP', 'GROUP', group, consumer, 'COUNT', String(batchSize), 'BLOCK', String(blockMs), 'STREAMS', ...keys, ...keys.map(() => '>')]);
    } finally {
      this.state.signal.removeEventListener('abort', interrupt);
    }
  }

  /**
   * Hands each partition's batch to the handler in turn and acknowledges it once handled.
   * While batches are in hand their idle time is reset, so no other member takes them over.
   */
  private async handle(batches: { p: number; entries: StreamEntry[] }[]): Promise<void> {
    const inHand = new Map(batches.map(({ p, entries }) => [p, entries.map((e) => e.id)]));
    const heartbeat = setInterval(() => void this.touch(inHand), Math.max(10, Math.floor(this.options.claimIdleMs / 3)));
    try {
      for (const { p, entries } of batches) {
        const key = this.keys[p]!;
        const gone = entries.filter((e) => e.fields === null);
        if (gone.length > 0) this.logger.warn({ ...this.state.context, partition: p, ids: gone.map((e) => e.id) }, 'durable log entries were trimmed before they were handled');
        const present = entries.filter((e) => e.fields !== null).map((e) => toEntry(p, e));
        if (present.length > 0 && !(await this.state.handle(present))) return;
        await this.client.send(key, ['XACK', key, this.consumer.group, ...entries.map((e) => e.id)]);
        inHand.delete(p);
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Resets the idle time of the entries in hand (XCLAIM with JUSTID does not count a delivery). */
  private async touch(inHand: Map<number, string[]>): Promise<void> {
    for (const [p, ids] of inHand) {
      const key = this.keys[p]!;
      await this.client.send(key, ['XCLAIM', key, this.consumer.group, this.consumer.consumer, '0', ...ids, 'JUSTID']).catch((err: unknown) => {
        this.logger.warn({ ...this.state.context, err }, 'durable log heartbeat failed');
      });
    }
  }
}

type RawEntry = [Buffer, Buffer[] | null];

function toStreamEntry([id, fields]: RawEntry): StreamEntry {
  return { id: id.toString(), fields };
}

/** The XREADGROUP reply, as batches by partition. */
function parseEntries(reply: unknown, keys: string[]): { p: number; entries: StreamEntry[] }[] {
  if (!Array.isArray(reply)) return [];
  return (reply as [Buffer, RawEntry[]][])
    .map(([name, entries]) => ({ p: keys.indexOf(name.toString()), entries: entries.map(toStreamEntry) }))
    .filter((b) => b.p >= 0 && b.entries.length > 0);
}

function toEntry(p: number, { id, fields }: StreamEntry): LogEntry {
  const at = fields!.findIndex((f, i) => i % 2 === 0 && f.toString() === RECORD_FIELD);
  const raw = at >= 0 ? fields![at + 1] : undefined;
  const entryId = `${p}:${id}`;
  if (!raw) return { id: entryId, message: null, raw: new Uint8Array(), error: `no ${RECORD_FIELD} field` };
  return toLogEntry(entryId, raw);
}

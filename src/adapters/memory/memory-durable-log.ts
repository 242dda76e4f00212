import type { Message } from '../../domain/model.js';
import type { DurableLog, LogConsumer, LogConsumerOptions, LogEntry } from '../../ports/durable-log.js';
import type { Logger } from '../../ports/logger.js';
import { encodeMessageRecord, toLogEntry } from '../codec/message-record.js';
import { ConsumerState, runConsumerLoop } from '../log-consumer/consumer-loop.js';

interface StoredRecord {
  /** Tenant and conversation: records with the same key are handed out in order. */
  key: string;
  raw: Uint8Array;
}

interface GroupState {
  /** Every record below this index is committed. */
  low: number;
  /** Committed records at or above `low`. */
  committed: Set<number>;
  /** Records in a batch that a member holds, with the member. */
  taken: Map<number, object>;
}

/** A record parked by `deadLetter`, with the reason. */
export interface MemoryDeadLetter {
  recordId: string;
  raw: Uint8Array;
  reason: string;
}

/**
 * The records and consumer groups of an in-memory log: what a broker would hold. Several
 * `MemoryDurableLog`s on one broker behave like several processes on one Kafka or Redis.
 *
 * A member is never handed a record while an earlier record of the same conversation is in
 * another member's batch, so members of a group keep the per-conversation order between them.
 * Records that every group has committed are dropped.
 */
export class MemoryLogBroker {
  private readonly records = new Map<number, StoredRecord>();
  private next = 1;
  private readonly groups = new Map<string, GroupState>();
  private readonly listeners = new Set<() => void>();
  /** Everything `deadLetter` parked, oldest first. */
  readonly deadLetters: MemoryDeadLetter[] = [];

  /** Stores a record under the conversation key; `raw` need not be a valid record (tests). */
  appendRaw(key: string, raw: Uint8Array): void {
    this.records.set(this.next++, { key, raw });
    this.notify();
  }

  /** Runs `listener` whenever records may have become available (appended, committed or released). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes up to `max` records for `holder`, the oldest first, skipping conversations held by other members. */
  claim(groupName: string, holder: object, max: number): LogEntry[] {
    const group = this.group(groupName);
    const locked = new Set<string>();
    for (const index of group.taken.keys()) locked.add(this.records.get(index)!.key);
    const out: LogEntry[] = [];
    for (let index = group.low; index < this.next && out.length < max; index++) {
      const record = this.records.get(index);
      if (!record || group.committed.has(index) || group.taken.has(index) || locked.has(record.key)) continue;
      group.taken.set(index, holder);
      out.push(toLogEntry(String(index), record.raw));
    }
    return out;
  }

  commit(groupName: string, holder: object, entries: readonly LogEntry[]): void {
    const group = this.group(groupName);
    for (const { id } of entries) {
      const index = Number(id);
      if (group.taken.get(index) !== holder) continue;
      group.taken.delete(index);
      group.committed.add(index);
    }
    while (group.committed.delete(group.low)) group.low += 1;
    this.trim();
    this.notify();
  }

  /** Gives back every record `holder` took and did not commit: the group hands them out again. */
  release(groupName: string, holder: object): void {
    const group = this.group(groupName);
    for (const [index, h] of group.taken) if (h === holder) group.taken.delete(index);
    this.notify();
  }

  private group(name: string): GroupState {
    let group = this.groups.get(name);
    if (!group) {
      // A new group starts at the oldest record still kept.
      const oldest = this.records.keys().next();
      group = { low: oldest.done ? this.next : oldest.value, committed: new Set(), taken: new Map() };
      this.groups.set(name, group);
    }
    return group;
  }

  private trim(): void {
    let keepFrom = this.next;
    for (const g of this.groups.values()) keepFrom = Math.min(keepFrom, g.low);
    for (const index of this.records.keys()) {
      if (index >= keepFrom) break;
      this.records.delete(index);
    }
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

/**
 * The durable log in memory, for tests and single-process development: one sequence of
 * records, consumer groups, at-least-once delivery. `close()` behaves like a process that
 * died: its consumers' uncommitted batches go back to their groups.
 */
export class MemoryDurableLog implements DurableLog {
  private readonly running = new Set<{ abandon(): Promise<void> }>();

  constructor(
    private readonly logger: Logger,
    readonly broker: MemoryLogBroker = new MemoryLogBroker(),
  ) {}

  async append(messages: readonly Message[]): Promise<void> {
    for (const message of messages) this.broker.appendRaw(`${message.tenantId}/${message.conversationId}`, encodeMessageRecord(message));
  }

  consume(options: LogConsumerOptions, handler: (entries: LogEntry[]) => Promise<void>): LogConsumer {
    const { group, consumer, batchSize } = options;
    const state = new ConsumerState(handler, this.logger, { backend: 'memory', group, consumer });
    const holder = {};
    const unlisten = this.broker.onChange(() => state.wake());
    const loop = runConsumerLoop(
      state,
      {
        step: async () => {
          const entries = this.broker.claim(group, holder, batchSize);
          if (entries.length === 0) return false;
          if (await state.handle(entries)) this.broker.commit(group, holder, entries);
          else this.broker.release(group, holder);
          return true;
        },
        // Only this broker can add records, and it wakes the consumer when it does.
        idle: () => state.sleep(60_000),
        cleanup: async () => {
          unlisten();
          this.broker.release(group, holder);
        },
      },
      this.logger,
    );
    this.running.add(loop);
    return {
      stop: async () => {
        await loop.stop();
        this.running.delete(loop);
      },
    };
  }

  async deadLetter(entries: readonly { entry: LogEntry; reason: string }[]): Promise<void> {
    for (const { entry, reason } of entries) this.broker.deadLetters.push({ recordId: entry.id, raw: entry.raw, reason });
  }

  async close(): Promise<void> {
    await Promise.all([...this.running].map((c) => c.abandon()));
    this.running.clear();
  }
}

import type { Message } from '../../domain/model.js';
import type { DurableLog, LogConsumer, LogEntry } from '../../ports/durable-log.js';
import type { Logger } from '../../ports/logger.js';
import type { MessageSequencer } from '../../ports/message-sequencer.js';
import type { MessageStore } from '../../ports/message-store.js';

export interface MessageProcessorOptions {
  /** Consumer group of the processors (default `processor`). */
  group: string;
  /** This processor's name in the group, stable across its restarts. */
  consumer: string;
  /** Largest batch written to the store at once (default 500). */
  batchSize: number;
  /** First retry delay after a failed write (default 100 ms); doubles up to `maxRetryMs`. */
  retryMs: number;
  /** Longest retry delay (default 10 s). */
  maxRetryMs: number;
  /** Tries of a write before the batch is split to find poison messages, and of each message then (default 3). */
  attemptsBeforeSplit: number;
}

/** The defaults of every option but the consumer's name, which each processor gives itself. */
export const PROCESSOR_DEFAULTS: Omit<MessageProcessorOptions, 'consumer'> = { group: 'processor', batchSize: 500, retryMs: 100, maxRetryMs: 10_000, attemptsBeforeSplit: 3 };

/** What the processor has done since it started. */
export interface ProcessorCounts {
  batches: number;
  /** Messages written to the store for the first time. */
  stored: number;
  /** Messages the store had already (replays after a crash). */
  repeats: number;
  retries: number;
  deadLetters: number;
}

/** Thrown into the consumer when a stop interrupts a batch: it is not committed and comes again. */
class Stopped extends Error {}

/**
 * Moves accepted messages from the durable log into the store (seed 000 §1.1): batched,
 * idempotent writes (the store inserts by message id), committed only after success.
 * Transient failures are retried with capped, jittered backoff for as long as it takes;
 * a message the store refuses while others of its batch go in is a poison message and is
 * parked in the log's dead letters with the reason. Once stored, messages leave the
 * sequencer's recent tail.
 */
export class MessageProcessor {
  readonly counts: ProcessorCounts = { batches: 0, stored: 0, repeats: 0, retries: 0, deadLetters: 0 };
  private consumer: LogConsumer | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly log: DurableLog,
    private readonly store: MessageStore,
    private readonly sequencer: MessageSequencer,
    private readonly logger: Logger,
    private readonly options: MessageProcessorOptions,
  ) {}

  start(): void {
    this.stopping = false;
    this.consumer = this.log.consume(
      { group: this.options.group, consumer: this.options.consumer, batchSize: this.options.batchSize },
      (entries) => this.handle(entries),
    );
  }

  /** Finishes or abandons (uncommitted) the batch in hand, then stops consuming. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.consumer?.stop();
    this.consumer = null;
  }

  private async handle(entries: LogEntry[]): Promise<void> {
    this.counts.batches++;
    const poison = entries.filter((e) => e.message === null).map((entry) => ({ entry, reason: `undecodable record: ${entry.error ?? 'unknown'}` }));
    const good = entries.filter((e): e is LogEntry & { message: Message } => e.message !== null);
    const refused = await this.write(good);
    poison.push(...refused);
    if (poison.length > 0) await this.retry(() => this.log.deadLetter(poison), 'dead-lettering');
    this.counts.deadLetters += poison.length;
    if (poison.length > 0) this.logger.warn({ records: poison.length, reasons: [...new Set(poison.map((p) => p.reason))] }, 'records moved to the dead letters');
    const stored = good.filter((e) => !refused.some((r) => r.entry === e)).map((e) => e.message);
    await this.sequencer.stored(stored).catch((err: unknown) => this.logger.warn({ err }, 'could not clear stored messages from the recent tail'));
  }

  /** Writes the batch; returns the entries the store refused while others went in. */
  private async write(entries: (LogEntry & { message: Message })[]): Promise<{ entry: LogEntry; reason: string }[]> {
    if (entries.length === 0) return [];
    if ((await this.attempt(entries)) === null) return [];
    // One by one: a message that keeps failing while others go in is poison; if all fail, the store is down.
    const failed: { entry: LogEntry & { message: Message }; reason: string }[] = [];
    let succeeded = 0;
    for (const e of entries) {
      const failure = await this.attempt([e]);
      if (failure === null) succeeded++;
      else failed.push({ entry: e, reason: `store refused the message: ${failure.error instanceof Error ? failure.error.message : String(failure.error)}` });
    }
    if (succeeded > 0 || failed.length === 0) return failed;
    await this.retry(() => this.store.insert(failed.map((f) => f.entry.message)).then((n) => this.count(failed.length, n)), 'store write');
    return [];
  }

  /** Up to `attemptsBeforeSplit` tries with backoff between them; returns the last failure, or null once written. */
  private async attempt(entries: (LogEntry & { message: Message })[]): Promise<{ error: unknown } | null> {
    let last: { error: unknown } | null = null;
    for (let attempt = 0; attempt < this.options.attemptsBeforeSplit; attempt++) {
      if (attempt > 0) await this.pause(attempt - 1);
      try {
        this.count(entries.length, await this.store.insert(entries.map((e) => e.message)));
        return null;
      } catch (err) {
        this.logger.warn({ err, messages: entries.length, attempt }, 'store write failed');
        last = { error: err };
      }
    }
    return last;
  }

  private count(total: number, fresh: number): void {
    this.counts.stored += fresh;
    this.counts.repeats += total - fresh;
  }

  /** Retries until it works or the processor stops (then the batch is abandoned, uncommitted). */
  private async retry(op: () => Promise<unknown>, what: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await op();
        return;
      } catch (err) {
        this.logger.warn({ err, attempt }, `${what} failed; retrying`);
        await this.pause(attempt);
      }
    }
  }

  /** Capped exponential backoff with full jitter; a stop cuts it short and abandons the batch. */
  private async pause(attempt: number): Promise<void> {
    if (this.stopping) throw new Stopped('processor stopping');
    this.counts.retries++;
    const cap = Math.min(this.options.maxRetryMs, this.options.retryMs * 2 ** attempt);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.random() * cap);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = null;
    if (this.stopping) throw new Stopped('processor stopping');
  }
}

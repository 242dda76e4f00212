import type { LogConsumer, LogEntry } from '../../ports/durable-log.js';
import type { Logger } from '../../ports/logger.js';

/** Handler retries and fetch errors back off from this delay, doubling up to the cap, with jitter. */
export interface Backoff {
  /** First delay (default 100 ms). */
  initialMs: number;
  /** Largest delay (default 10 s). */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 100, maxMs: 10_000 };

/** The delay before retry number `attempt` (1, 2, …): capped exponential, with up to 50 % jitter. */
export function backoffDelay(backoff: Backoff, attempt: number): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

/**
 * The life of one running consumer, shared by the log backends: stop (drain the batch in
 * hand), abandon (a crash: walk away from it), waits that end early on either, and the
 * handler call with its retries.
 */
export class ConsumerState {
  private stopping = false;
  private abandonedFlag = false;
  private readonly controller = new AbortController();
  /** Called back by abandon(): the handle() in progress, if any. */
  private onAbandon: (() => void) | null = null;
  private wakeSleeper: (() => void) | undefined;
  private woken = false;

  constructor(
    private readonly handler: (entries: LogEntry[]) => Promise<void>,
    private readonly logger: Logger,
    /** Names the consumer in logs (group, consumer, backend). */
    readonly context: Record<string, unknown>,
    private readonly backoff: Backoff = DEFAULT_BACKOFF,
  ) {
  }

  /** True once stop() or abandon() was called: fetch nothing more. */
  get stopped(): boolean {
    return this.stopping;
  }

  /** True once abandon() was called: commit nothing more. */
  get abandoned(): boolean {
    return this.abandonedFlag;
  }

  /** Aborts when the consumer stops or is abandoned, to interrupt a blocking fetch. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.controller.abort();
    this.wake();
  }

  /** Stops without waiting for the batch in hand, which stays uncommitted (as if the process died). */
  abandon(): void {
    this.abandonedFlag = true;
    this.onAbandon?.();
    this.stop();
  }

  /** Ends the current sleep early (new records arrived). */
  wake(): void {
    if (this.wakeSleeper) this.wakeSleeper();
    else this.woken = true;
  }

  /** Waits `ms`, or less when woken, stopped or abandoned. */
  sleep(ms: number): Promise<void> {
    // A wake-up that came while the loop was busy ends the next sleep at once.
    if (this.stopping || this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    // One loop per consumer, so at most one sleeper at a time.
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeSleeper === done) this.wakeSleeper = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeSleeper = done;
    });
  }

  /**
   * Calls the handler until it resolves. A handler rejects when its consumer is being
   * stopped: the batch is then left uncommitted. Any other rejection is logged and the same
   * entries are handed over again after a backoff. Resolves true when the batch may be
   * committed, false when it must not be (rejected while stopping, or abandoned).
   */
  async handle(entries: LogEntry[]): Promise<boolean> {
    if (this.abandonedFlag) return false;
    // One abandonment promise per batch, dropped with it: racing a promise that lives as long
    // as the consumer would keep every batch's entries reachable from it.
    const abandoned = new Promise<{ kind: 'abandoned' }>((resolve) => {
      this.onAbandon = () => resolve({ kind: 'abandoned' });
    });
    try {
      return await this.handleUntilAbandoned(entries, abandoned);
    } finally {
      this.onAbandon = null;
    }
  }

  private async handleUntilAbandoned(entries: LogEntry[], abandoned: Promise<{ kind: 'abandoned' }>): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await Promise.race([
        // A handler that throws instead of rejecting is treated the same.
        Promise.resolve()
          .then(() => this.handler(entries))
          .then(
            () => ({ kind: 'done' as const }),
            (err: unknown) => ({ kind: 'failed' as const, err }),
          ),
        abandoned,
      ]);
      if (outcome.kind === 'done') return !this.abandonedFlag;
      if (outcome.kind === 'abandoned') return false;
      if (this.stopping) {
        // The port's one legitimate rejection: the handler gave up because its consumer stops.
        this.logger.info({ ...this.context, err: outcome.err, entries: entries.length }, 'durable log handler gave up while stopping; the batch stays uncommitted');
        return false;
      }
      this.logger.error({ ...this.context, err: outcome.err, entries: entries.length, attempt }, 'durable log handler rejected; retrying the batch');
      await this.pause(backoffDelay(this.backoff, attempt));
      if (this.stopping) return false;
    }
  }

  /** Waits `ms`, or less when stopped; new records do not end it (a backoff). */
  pause(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.controller.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.controller.signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** What a backend's consumer does in each turn of its loop. */
export interface ConsumerSteps {
  /** Fetches, handles and commits at most one batch; resolves false when there was nothing. */
  step(): Promise<boolean>;
  /** Waits for records to arrive (bounded, and ending early on `state.signal` or `state.wake()`). */
  idle(): Promise<void>;
  /** Called after a failed step (the loop backs off, then goes on). */
  failed?(err: unknown): void;
  /** Called once when the loop ends, stopped or abandoned. */
  cleanup?(): Promise<void>;
}

/**
 * Runs a consumer loop until the state stops. A failing step is logged and retried with
 * capped jittered backoff; the loop never rejects.
 */
export function runConsumerLoop(state: ConsumerState, steps: ConsumerSteps, logger: Logger, backoff: Backoff = DEFAULT_BACKOFF): LogConsumer & { abandon(): Promise<void> } {
  const done = (async () => {
    let failures = 0;
    while (!state.stopped) {
      try {
        const worked = await steps.step();
        failures = 0;
        if (!worked && !state.stopped) await steps.idle();
      } catch (err) {
        if (state.stopped) break;
        failures += 1;
        steps.failed?.(err);
        logger.warn({ ...state.context, err, failures }, 'durable log consumer failed; retrying');
        await state.pause(backoffDelay(backoff, failures));
      }
    }
    try {
      await steps.cleanup?.();
    } catch (err) {
      logger.warn({ ...state.context, err }, 'durable log consumer cleanup failed');
    }
  })();
  return {
    async stop() {
      state.stop();
      await done;
    },
    async abandon() {
      state.abandon();
      await done;
    },
  };
}

import type { Inbox } from '../../ports/inbox.js';
import type { Logger } from '../../ports/logger.js';
import type { Clock } from '../../ports/system.js';
import type { DeliveryCounters } from './delivery-counters.js';

export interface InboxRetentionOptions {
  /** How often inboxes are swept for entries past their age (default 60 s). */
  everyMs: number;
  /** Inboxes trimmed per call of `Inbox.expire`; a sweep calls again while a full round comes back. */
  inboxesPerRound: number;
}

/**
 * Removes inbox entries past the retention age on a timer (every server may run one: a
 * sweep is idempotent) and counts what expired unacknowledged (those are dead letters).
 */
export class InboxRetentionSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly inbox: Inbox,
    private readonly counters: DeliveryCounters,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: InboxRetentionOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .then(() => undefined, (err: unknown) => this.logger.warn({ err }, 'inbox retention sweep failed'))
        .finally(() => {
          this.running = null;
        });
    }, this.options.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One sweep over every inbox with entries past the age; returns the dead letters it made. */
  async sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const round = await this.inbox.expire(this.clock.now(), this.options.inboxesPerRound);
      total += round.deadLetters.length;
      if (round.inboxes < this.options.inboxesPerRound) break;
    }
    if (total > 0) {
      this.counters.expired += total;
      this.counters.deadLetters += total;
      this.logger.warn({ entries: total }, 'inbox entries expired before any device acknowledged them; moved to the dead letters');
    }
    return total;
  }
}

import type { Clock } from '../../ports/system.js';

type Kind = 'incoming' | 'outgoing' | 'errors';

const WINDOW_SECONDS = 10;

/** Events per second over the last ten seconds, in one-second buckets. */
export class TrafficStats {
  private readonly buckets = new Map<Kind, Float64Array>();
  private second = 0;

  constructor(private readonly clock: Clock) {
    for (const k of ['incoming', 'outgoing', 'errors'] as const) this.buckets.set(k, new Float64Array(WINDOW_SECONDS));
  }

  record(kind: Kind, count = 1): void {
    this.advance();
    this.buckets.get(kind)![this.second % WINDOW_SECONDS]! += count;
  }

  /** Average per second over the window. */
  rate(kind: Kind): number {
    this.advance();
    const sum = this.buckets.get(kind)!.reduce((a, b) => a + b, 0);
    return Math.round((sum / WINDOW_SECONDS) * 100) / 100;
  }

  private advance(): void {
    const now = Math.floor(this.clock.now() / 1000);
    if (now === this.second) return;
    const steps = Math.min(now - this.second, WINDOW_SECONDS);
    for (const b of this.buckets.values()) for (let i = 1; i <= steps; i++) b[(this.second + i) % WINDOW_SECONDS] = 0;
    this.second = now;
  }
}

/** Options of an exponential backoff with full jitter. */
export interface BackoffOptions {
  /** The ceiling of the first delay, in ms (default 500). */
  baseMs?: number;
  /** The largest ceiling, in ms (default 30 000). */
  maxMs?: number;
  /** Source of randomness in [0, 1) (default `Math.random`); tests pass a fixed one. */
  random?: () => number;
}

/**
 * "Full jitter" (AWS architecture blog, Exponential Backoff And Jitter): the delay of
 * attempt `n` (0-based) is uniform in [0, min(max, base·2ⁿ)). Spreading over the whole
 * window, not around its middle, is what keeps thousands of clients that lost the same
 * server from coming back in one wave.
 */
export function fullJitter(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const random = options.random ?? Math.random;
  // 2ⁿ overflows to Infinity for large n; min() keeps the ceiling finite.
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/** Counts attempts and hands out the next full-jitter delay; `reset()` after a success. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions = {}) {}

  /** The delay before the next attempt; each call widens the window. */
  next(): number {
    return fullJitter(this.attempt++, this.options);
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

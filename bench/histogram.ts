/**
 * A latency histogram in milliseconds with about 1 % precision (64 buckets per power of two
 * of microseconds), small enough to send between processes and merge. Samples below 1 µs
 * count as 1 µs; above about 17 minutes as the top bucket.
 */
export class Histogram {
  static readonly SUB = 64;
  static readonly SIZE = 30 * Histogram.SUB;
  readonly counts: number[];
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;

  constructor(counts?: number[]) {
    this.counts = counts ?? new Array<number>(Histogram.SIZE).fill(0);
  }

  add(ms: number): void {
    const us = Math.max(1, ms * 1000);
    const i = Math.min(Histogram.SIZE - 1, Math.floor(Math.log2(us) * Histogram.SUB));
    this.counts[i]! += 1;
    this.count += 1;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  merge(other: HistogramData): void {
    for (let i = 0; i < Histogram.SIZE; i++) this.counts[i]! += other.counts[i] ?? 0;
    this.count += other.count;
    if (other.count > 0) {
      this.min = Math.min(this.min, other.min);
      this.max = Math.max(this.max, other.max);
    }
  }

  /** The value at quantile `q` (0–1), in ms; NaN without samples. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < Histogram.SIZE; i++) {
      seen += this.counts[i]!;
      // The middle of the bucket, in ms, clamped to what was really seen.
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, 2 ** ((i + 0.5) / Histogram.SUB) / 1000));
    }
    return this.max;
  }

  summary(): LatencySummary {
    const r = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
    return { samples: this.count, p50: r(this.quantile(0.5)), p90: r(this.quantile(0.9)), p99: r(this.quantile(0.99)), max: r(this.count ? this.max : Number.NaN) };
  }

  toJSON(): HistogramData {
    return { counts: this.counts, count: this.count, min: this.count ? this.min : 0, max: this.max };
  }

  static from(data: HistogramData): Histogram {
    const h = new Histogram();
    h.merge(data);
    return h;
  }

  static mergeAll(list: HistogramData[]): Histogram {
    const h = new Histogram();
    for (const d of list) h.merge(d);
    return h;
  }
}

export interface HistogramData {
  counts: number[];
  count: number;
  min: number;
  max: number;
}

/** Latency percentiles in ms (null without samples). */
export interface LatencySummary {
  samples: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

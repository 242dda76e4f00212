import type { Clock } from '../../ports/system.js';

/**
 * Deadlines for many keys under one timer: each key is called back once, never before its
 * deadline and at most two `resolutionMs` after it. A `setTimeout` per connection costs a few hundred bytes
 * (the timer and its closure); a key here costs one entry in two maps.
 *
 * Time is cut into slots of `resolutionMs`; while any deadline is pending, one interval
 * timer walks the slots that have passed.
 */
export class Deadlines<K> {
  private readonly slotOf = new Map<K, number>();
  private readonly slots = new Map<number, Set<K>>();
  private timer: NodeJS.Timeout | null = null;
  /** Every slot up to this one has been called back. */
  private done: number;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (key: K) => void,
    /** A callback that throws does not stop the others; its error goes here. */
    private readonly onError: (err: unknown, key: K) => void,
    private readonly resolutionMs = 250,
  ) {
    this.done = this.slotAt(clock.now()) - 1;
  }

  /** Sets (or moves) the key's deadline, epoch milliseconds; one already past is called back on the next tick. */
  set(key: K, at: number): void {
    this.delete(key);
    // After an idle spell (no timer), the slots in between need no walking.
    if (!this.timer) this.done = Math.max(this.done, this.slotAt(this.clock.now()) - 1);
    const slot = Math.max(Math.ceil(at / this.resolutionMs), this.done + 1);
    const keys = this.slots.get(slot);
    if (keys) keys.add(key);
    else this.slots.set(slot, new Set([key]));
    this.slotOf.set(key, slot);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.resolutionMs);
      this.timer.unref();
    }
  }

  delete(key: K): void {
    const slot = this.slotOf.get(key);
    if (slot === undefined) return;
    this.slotOf.delete(key);
    // The slot being called back is already out of `slots`.
    const keys = this.slots.get(slot);
    keys?.delete(key);
    if (keys?.size === 0) this.slots.delete(slot);
  }

  private slotAt(at: number): number {
    return Math.floor(at / this.resolutionMs);
  }

  private tick(): void {
    const now = this.slotAt(this.clock.now());
    while (this.done < now) {
      const slot = ++this.done;
      const keys = this.slots.get(slot);
      if (!keys) continue;
      this.slots.delete(slot);
      for (const key of keys) {
        // A callback before it may have moved or deleted this key.
        if (this.slotOf.get(key) !== slot) continue;
        this.slotOf.delete(key);
        try {
          this.onDue(key);
        } catch (err) {
          this.onError(err, key);
        }
      }
    }
    if (this.slotOf.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

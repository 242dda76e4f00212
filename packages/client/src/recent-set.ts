/** A set that remembers the last `capacity` values it was given, forgetting the oldest first. */
export class RecentSet<T> {
  private readonly values = new Set<T>();

  constructor(private readonly capacity: number) {}

  has(value: T): boolean {
    return this.values.has(value);
  }

  add(value: T): void {
    if (this.values.has(value)) return;
    this.values.add(value);
    if (this.values.size > this.capacity) {
      // A Set iterates in insertion order, so the first value is the oldest.
      const oldest = this.values.values().next();
      if (!oldest.done) this.values.delete(oldest.value);
    }
  }

  delete(value: T): boolean {
    return this.values.delete(value);
  }

  get size(): number {
    return this.values.size;
  }
}

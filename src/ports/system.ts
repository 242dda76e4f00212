/** Wall-clock time; replaceable so expiry logic can be tested. */
export interface Clock {
  now(): number;
}

/** Time-ordered unique ids (e.g. ULID): sorting ids sorts by creation time. */
export interface IdGenerator {
  next(): string;
}

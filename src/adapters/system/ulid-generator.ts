import { monotonicFactory } from 'ulid';
import type { IdGenerator } from '../../ports/system.js';

/** ULIDs from a monotonic factory: ids created in the same millisecond still sort in creation order. */
export function createUlidGenerator(): IdGenerator {
  const next = monotonicFactory();
  return { next: () => next() };
}

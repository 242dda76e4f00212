import { randomBytes } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { IdGenerator } from '../../ports/system.js';

const POOL_BYTES = 4096;

/**
 * Random numbers in [0, 1) from a pool of cryptographic random bytes, refilled when used
 * up: ulid asks for one number per character, and one system call per character is costly.
 * A byte is enough: ulid maps each number to one of 32 characters (256 / 32 is exact).
 */
function pooledRandom(): () => number {
  let pool = randomBytes(POOL_BYTES);
  let at = 0;
  return () => {
    if (at === POOL_BYTES) {
      pool = randomBytes(POOL_BYTES);
      at = 0;
    }
    return pool[at++]! / 256;
  };
}

/** ULIDs from a monotonic factory: ids created in the same millisecond still sort in creation order. */
export function createUlidGenerator(): IdGenerator {
  const next = monotonicFactory(pooledRandom());
  return { next: () => next() };
}

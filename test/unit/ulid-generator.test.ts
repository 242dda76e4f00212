import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createUlidGenerator } from '../../src/adapters/system/ulid-generator.js';

describe('ULID generator', () => {
  it('makes unique ULIDs that sort in creation order, past many refills of its random pool', () => {
    const ids = createUlidGenerator();
    const made = Array.from({ length: 5000 }, () => ids.next());
    for (const id of made) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(new Set(made).size, made.length);
    assert.deepEqual([...made].sort(), made);
    // The random part uses the whole alphabet: a pool that repeated or stuck would not.
    const randomChars = new Set(made.flatMap((id) => [...id.slice(10)]));
    assert.equal(randomChars.size, 32);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff, fullJitter } from '../../packages/client/src/index.js';

describe('full-jitter backoff', () => {
  it('draws each delay uniformly from [0, min(max, base·2ⁿ))', () => {
    const top = () => 0.999999;
    assert.deepEqual([0, 1, 2, 3, 10].map((n) => fullJitter(n, { baseMs: 100, maxMs: 1000, random: top })), [99, 199, 399, 799, 999]);
    assert.equal(fullJitter(5, { baseMs: 100, random: () => 0 }), 0);
    assert.equal(fullJitter(2, { baseMs: 100, random: () => 0.5 }), 200);
  });

  it('stays finite for attempt numbers whose power of two overflows', () => {
    assert.equal(fullJitter(5000, { baseMs: 100, maxMs: 2000, random: () => 0.5 }), 1000);
  });

  it('spreads real draws over the whole window, not around its middle', () => {
    const draws = Array.from({ length: 2000 }, () => fullJitter(3, { baseMs: 100 }));
    assert.ok(draws.every((d) => d >= 0 && d < 800));
    assert.ok(draws.some((d) => d < 80), 'some draws near zero');
    assert.ok(draws.some((d) => d > 720), 'some draws near the ceiling');
  });

  it('widens with each attempt and starts over after reset', () => {
    const backoff = new Backoff({ baseMs: 10, maxMs: 10_000, random: () => 0.999999 });
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [9, 19, 39]);
    assert.equal(backoff.attempts, 3);
    backoff.reset();
    assert.equal(backoff.next(), 9);
  });
});

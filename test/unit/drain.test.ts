import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planDrain } from '../../src/core/sessions/drain.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`);

describe('drain plan', () => {
  it('closes a handful of connections at once', () => {
    const plan = planDrain(ids(7), 5000);
    assert.deepEqual(plan, [{ atMs: 0, items: ids(7) }]);
  });

  it('closes nothing when there is nothing to close', () => {
    assert.deepEqual(planDrain([], 5000), []);
  });

  it('covers every connection exactly once, in batches spread over the window', () => {
    const all = ids(10_000);
    const plan = planDrain(all, 5000);
    assert.deepEqual(plan.flatMap((b) => b.items).sort(), [...all].sort());
    assert.equal(plan.length, 50, 'one batch per 100 ms');
    for (const b of plan) {
      assert.ok(b.atMs >= 0 && b.atMs < 5000, `batch at ${b.atMs} ms is outside the window`);
      assert.equal(b.items.length, 200);
    }
  });

  it('puts each batch at a random moment inside its own slot', () => {
    const early = planDrain(ids(500), 1000, () => 0).map((b) => b.atMs);
    const late = planDrain(ids(500), 1000, () => 0.999).map((b) => b.atMs);
    assert.deepEqual(early, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    assert.deepEqual(late, [99, 199, 299, 399, 499, 599, 699, 799, 899, 999]);
  });

  it('makes no batch smaller than needed when the window is short', () => {
    const plan = planDrain(ids(1000), 250);
    assert.equal(plan.length, 2);
    assert.deepEqual(plan.map((b) => b.items.length), [500, 500]);
  });
});

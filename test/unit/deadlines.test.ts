import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Deadlines } from '../../src/core/sessions/deadlines.js';

describe('Deadlines', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());
  const clock = { now: () => Date.now() };

  it('calls each key back once, never before its deadline and at most two slots after it', () => {
    const fired: [string, number][] = [];
    const deadlines = new Deadlines<string>(clock, (key) => fired.push([key, Date.now()]), assert.fail, 100);
    deadlines.set('a', 1_000_250);
    deadlines.set('b', 1_000_100);
    deadlines.set('gone', 1_000_150);
    deadlines.delete('gone');
    deadlines.set('moved', 1_000_050);
    deadlines.set('moved', 1_000_400);
    for (let i = 0; i < 10; i++) mock.timers.tick(50);
    assert.deepEqual(fired.map(([k]) => k), ['b', 'a', 'moved']);
    const due: Record<string, number> = { a: 1_000_250, b: 1_000_100, moved: 1_000_400 };
    for (const [key, at] of fired) {
      assert.ok(at >= due[key]!, `${key} not early`);
      assert.ok(at <= due[key]! + 200, `${key} at most two slots late`);
    }
  });

  it('calls a deadline already past back on the next tick, and keys set from a callback are kept', () => {
    const fired: string[] = [];
    const deadlines = new Deadlines<string>(clock, (key) => {
      fired.push(key);
      if (key === 'first') deadlines.set('again', Date.now() + 100);
    }, assert.fail, 100);
    deadlines.set('first', Date.now() - 5_000);
    mock.timers.tick(100);
    assert.deepEqual(fired, ['first']);
    mock.timers.tick(300);
    assert.deepEqual(fired, ['first', 'again']);
  });

  it('goes on with the slot when a callback throws, or moves or deletes another key of the same slot', () => {
    const fired: string[] = [];
    const errors: string[] = [];
    const deadlines = new Deadlines<string>(clock, (key) => {
      fired.push(key);
      if (key === 'a') {
        deadlines.delete('b');
        deadlines.set('c', Date.now() + 1000);
        throw new Error('a failed');
      }
    }, (err, key) => errors.push(`${key}: ${(err as Error).message}`), 100);
    const at = Date.now() + 100;
    for (const key of ['a', 'b', 'c', 'd']) deadlines.set(key, at);
    mock.timers.tick(200);
    assert.deepEqual(fired, ['a', 'd'], 'b was deleted and c moved by a, d still ran');
    assert.deepEqual(errors, ['a: a failed']);
    mock.timers.tick(1000);
    assert.deepEqual(fired, ['a', 'd', 'c']);
  });
});

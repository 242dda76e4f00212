import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ConsumerState } from '../../src/adapters/log-consumer/consumer-loop.js';
import type { LogEntry } from '../../src/ports/durable-log.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** A full garbage collection, without starting node with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('ConsumerState', () => {
  it('lets go of each batch once handled: a consumer that runs for days keeps no batch alive', async () => {
    const state = new ConsumerState(async () => undefined, quiet, {});
    const handled: WeakRef<LogEntry[]>[] = [];
    for (let i = 0; i < 20; i++) {
      const entries: LogEntry[] = [{ id: String(i), message: null, raw: new Uint8Array(1024) }];
      handled.push(new WeakRef(entries));
      assert.equal(await state.handle(entries), true);
    }
    // Two turns, so nothing of the last handle() is on the stack any more.
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    // The last one may still be referenced from this function's own frame; none accumulate.
    assert.ok(handled.filter((r) => r.deref() !== undefined).length <= 1, 'handled batches are collected');
  });

  it('gives up the batch in hand when abandoned, so it stays uncommitted', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const state = new ConsumerState(() => {
      started();
      return new Promise<void>(() => undefined);
    }, quiet, {});
    const outcome = state.handle([{ id: '1', message: null, raw: new Uint8Array(1) }]);
    await running;
    state.abandon();
    assert.equal(await outcome, false);
    assert.equal(await state.handle([{ id: '2', message: null, raw: new Uint8Array(1) }]), false, 'nothing more once abandoned');
  });
});

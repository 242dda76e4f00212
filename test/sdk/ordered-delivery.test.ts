import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderedDelivery, type HistoryPage, type Message, type MessageSource } from '../../packages/client/src/index.js';

function msg(seq: number, conversationId = 'c1'): Message {
  return {
    conversationId, id: `${conversationId}-${seq}`, seq, senderId: 'alice', clientMessageId: `cm-${seq}`, type: 'text',
    content: `#${seq}`, metadata: {}, replyTo: null, createdAt: new Date(0).toISOString(), editedAt: null, deletedAt: null, reactions: [],
  };
}

/** An OrderedDelivery over a fake history store, recording what reaches the app. */
function harness(o: { stored?: number; pageSize?: number; gapTimeoutMs?: number; failReads?: boolean } = {}) {
  const store = Array.from({ length: o.stored ?? 0 }, (_, i) => msg(i + 1));
  const delivered: [number, MessageSource][] = [];
  const reads: number[] = [];
  const skipped: number[][] = [];
  const errors: unknown[] = [];
  let waiter: { count: number; resolve: () => void } | undefined;
  const delivery = new OrderedDelivery({
    async fetchAfter(_c, after): Promise<HistoryPage> {
      reads.push(after);
      if (o.failReads) throw new Error('offline');
      const newer = store.filter((m) => m.seq > after);
      const size = o.pageSize ?? 100;
      return { messages: newer.slice(0, size), hasMore: newer.length > size };
    },
    deliver(m, source) {
      delivered.push([m.seq, source]);
      if (waiter && delivered.length >= waiter.count) waiter.resolve();
    },
    moved() {},
    skipped: (_c, seqs) => skipped.push(seqs),
    onError: (err) => errors.push(err),
    gapTimeoutMs: o.gapTimeoutMs ?? 60_000,
  });
  const deliveredCount = (count: number) => new Promise<void>((resolve) => {
    if (delivered.length >= count) resolve();
    else waiter = { count, resolve };
  });
  return { delivery, delivered, reads, skipped, errors, deliveredCount, store };
}

describe('OrderedDelivery', () => {
  it('fills a gap from history, paging until hasMore is false, then releases the held messages', async () => {
    const h = harness({ stored: 7, pageSize: 2 });
    h.delivery.baseline('c1', 1);
    h.delivery.accept(msg(6), 'live');
    await h.deliveredCount(6);
    assert.deepEqual(h.delivered.map(([s]) => s), [2, 3, 4, 5, 6, 7]);
    assert.deepEqual(h.reads, [1, 3, 5]);
    assert.equal(h.delivery.lastSeq('c1'), 7);
  });

  it('gives up on a seq history does not have after gapTimeoutMs, delivering the rest', async () => {
    const h = harness({ stored: 2, gapTimeoutMs: 30 });
    h.delivery.baseline('c1', 0);
    h.delivery.accept(msg(4), 'live');
    await h.deliveredCount(3);
    assert.deepEqual(h.delivered.map(([s]) => s), [1, 2, 4]);
    assert.deepEqual(h.skipped, [[3]]);
    h.delivery.close();
  });

  it('gives up after gapTimeoutMs when history cannot be read', async () => {
    const h = harness({ failReads: true, gapTimeoutMs: 30 });
    h.delivery.baseline('c1', 0);
    h.delivery.accept(msg(3), 'live');
    h.delivery.accept(msg(2), 'live');
    await h.deliveredCount(2);
    assert.deepEqual(h.delivered, [[2, 'live'], [3, 'live']]);
    assert.deepEqual(h.skipped, [[1]]);
    assert.ok(h.errors.length >= 1);
  });

  it('catches up a conversation that is behind the server, and leaves one that is not alone', async () => {
    const h = harness({ stored: 4 });
    h.delivery.baseline('c1', 2);
    await h.delivery.catchUp('c1', 2);
    assert.deepEqual(h.reads, []);
    await h.delivery.catchUp('c1', 4);
    assert.deepEqual(h.delivered, [[3, 'history'], [4, 'history']]);
  });

  it('delivers a message that arrives live after history already delivered it only once', async () => {
    const h = harness({ stored: 3 });
    h.delivery.baseline('c1', 0);
    h.delivery.accept(msg(3), 'live');
    await h.deliveredCount(3);
    h.delivery.accept(msg(3), 'live');
    h.delivery.accept(msg(1), 'live');
    assert.deepEqual(h.delivered.map(([s]) => s), [1, 2, 3]);
  });
});

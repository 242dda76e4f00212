import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderingBuffer } from '../../packages/client/src/index.js';

const m = (seq: number, conversationId = 'c1', id = `${conversationId}-${seq}`) => ({ conversationId, id, seq });
const seqs = (list: { seq: number }[]) => list.map((x) => x.seq);

describe('OrderingBuffer', () => {
  it('delivers the first message of an unknown conversation and then only the next seq', () => {
    const buffer = new OrderingBuffer();
    assert.deepEqual(seqs(buffer.accept(m(7)).deliver), [7]);
    assert.deepEqual(seqs(buffer.accept(m(8)).deliver), [8]);
    assert.equal(buffer.lastSeq('c1'), 8);
  });

  it('holds messages behind a gap and releases them in order once it is filled', () => {
    const buffer = new OrderingBuffer();
    buffer.baseline('c1', 0);
    buffer.accept(m(1));
    assert.deepEqual(buffer.accept(m(4)), { deliver: [], gap: true });
    assert.deepEqual(buffer.accept(m(3)), { deliver: [], gap: true });
    assert.equal(buffer.heldCount('c1'), 2);
    const filled = buffer.accept(m(2));
    assert.deepEqual(seqs(filled.deliver), [2, 3, 4]);
    assert.equal(filled.gap, false);
  });

  it('lets each message id through once, whether repeated live, from history or held twice', () => {
    const buffer = new OrderingBuffer();
    buffer.baseline('c1', 0);
    assert.equal(buffer.accept(m(1)).deliver.length, 1);
    assert.equal(buffer.accept(m(1)).deliver.length, 0);
    buffer.accept(m(3));
    buffer.accept(m(3));
    assert.deepEqual(seqs(buffer.accept(m(2)).deliver), [2, 3]);
    assert.equal(buffer.accept(m(2)).deliver.length, 0);
  });

  it('keeps conversations apart', () => {
    const buffer = new OrderingBuffer();
    buffer.baseline('a', 0);
    buffer.baseline('b', 5);
    assert.equal(buffer.accept(m(2, 'a')).gap, true);
    assert.deepEqual(seqs(buffer.accept(m(6, 'b')).deliver), [6]);
    assert.equal(buffer.heldCount('a'), 1);
    assert.equal(buffer.heldCount('b'), 0);
  });

  it('gives up on a gap: delivers what it holds in order, names the skipped seqs, and still delivers one of them late, once', () => {
    const buffer = new OrderingBuffer();
    buffer.baseline('c1', 1);
    buffer.accept(m(5));
    buffer.accept(m(3));
    const given = buffer.giveUp('c1');
    assert.deepEqual(seqs(given.deliver), [3, 5]);
    assert.deepEqual(given.skipped, [2, 4]);
    assert.equal(buffer.lastSeq('c1'), 5);
    assert.deepEqual(seqs(buffer.accept(m(6)).deliver), [6]);
    assert.deepEqual(seqs(buffer.accept(m(4)).deliver), [4], 'a skipped seq that shows up after all is delivered');
    assert.equal(buffer.accept(m(4)).deliver.length, 0);
  });

  it('never moves a known position with a baseline, and reports positions to persist', () => {
    const buffer = new OrderingBuffer();
    buffer.baseline('c1', 3);
    buffer.baseline('c1', 10);
    assert.equal(buffer.lastSeq('c1'), 3);
    buffer.accept(m(4));
    buffer.baseline('c2', 0);
    assert.deepEqual(buffer.positions(), { c1: 4, c2: 0 });
  });

  it('lets the last seqs before a first-seen start through when they arrive late, once', () => {
    const buffer = new OrderingBuffer();
    buffer.baseline('c1', 10, 3);
    assert.deepEqual(seqs(buffer.accept(m(10)).deliver), [10]);
    assert.deepEqual(seqs(buffer.accept(m(7)).deliver), [], 'older than the window');
    assert.deepEqual(seqs(buffer.accept(m(11)).deliver), [11]);
    assert.deepEqual(seqs(buffer.accept(m(10)).deliver), []);
  });

  it('forgets the oldest ids beyond its capacity', () => {
    const buffer = new OrderingBuffer({ maxRememberedIds: 2 });
    buffer.accept(m(1, 'a', 'x'));
    buffer.accept(m(1, 'b', 'y'));
    buffer.accept(m(1, 'c', 'z'));
    assert.equal(buffer.accept(m(1, 'd', 'z')).deliver.length, 0);
    assert.equal(buffer.accept(m(1, 'd', 'x')).deliver.length, 1);
  });
});

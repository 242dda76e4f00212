import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InboxCursor } from '../../packages/client/src/index.js';

describe('InboxCursor', () => {
  it('asks a new device to start from now, then acknowledges the highest contiguous done offset', () => {
    const cursor = new InboxCursor(null);
    assert.deepEqual(cursor.handshake(), {});
    cursor.synced({ head: 10, replayed: 0, lost: false });
    assert.equal(cursor.due(), 10);
    cursor.acknowledged(10);
    for (const o of [11, 13, 14]) assert.equal(cursor.receive(o), true);
    cursor.complete(11);
    cursor.complete(13);
    cursor.complete(14);
    assert.equal(cursor.due(), 11, 'never past the gap at 12');
    cursor.receive(12);
    assert.equal(cursor.due(), 11, 'received is not enough: the app must have it');
    cursor.complete(12);
    assert.equal(cursor.due(), 14);
    cursor.acknowledged(14);
    assert.equal(cursor.due(), null);
    assert.deepEqual(cursor.handshake(), { after: 14 });
  });

  it('makes the acknowledgement due again when the server resends an entry it should have had', () => {
    const cursor = new InboxCursor(null);
    cursor.synced({ head: 3, replayed: 0, lost: false });
    cursor.acknowledged(3);
    assert.equal(cursor.due(), null);
    assert.equal(cursor.receive(3), false);
    cursor.repeatAck();
    assert.equal(cursor.due(), 3);
  });

  it('drops repeats: offsets already done, and offsets received but still pending', () => {
    const cursor = new InboxCursor(5);
    assert.equal(cursor.receive(5), false);
    assert.equal(cursor.receive(6), true);
    assert.equal(cursor.receive(6), false);
    cursor.complete(6);
    assert.equal(cursor.receive(6), false);
  });

  it('replays after the restored offset and counts the replay against it', () => {
    const cursor = new InboxCursor(20);
    assert.deepEqual(cursor.handshake(), { after: 20 });
    for (const o of [21, 22]) {
      cursor.receive(o);
      cursor.complete(o);
    }
    assert.equal(cursor.synced({ head: 22, replayed: 2, lost: false }), 'ok');
    assert.equal(cursor.due(), 22);
  });

  it('moves past entries lost to retention, and starts over when the server inbox is behind the device', () => {
    const lost = new InboxCursor(3);
    for (const o of [8, 9, 10]) {
      lost.receive(o);
      lost.complete(o);
    }
    lost.synced({ head: 10, replayed: 3, lost: true });
    assert.equal(lost.due(), 10);

    const reset = new InboxCursor(50);
    assert.equal(reset.synced({ head: 4, replayed: 0, lost: false }), 'reset');
    assert.deepEqual(reset.handshake(), { after: 4 });
    assert.equal(reset.receive(5), true);
  });
});

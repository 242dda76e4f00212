import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStorage, webStorage, type WebStorageLike } from '../../packages/client/src/index.js';
import { StorageWriter } from '../../packages/client/src/storage.js';

describe('client storage', () => {
  it('keeps JSON values in memory, as copies', () => {
    const storage = new MemoryStorage();
    const value = { offset: 3, seqs: { c1: 2 } };
    storage.set('k', value);
    value.offset = 99;
    assert.deepEqual(storage.get('k'), { offset: 3, seqs: { c1: 2 } });
    assert.equal(storage.get('missing'), undefined);
  });

  it('adapts Web Storage, treating foreign non-JSON values as absent', () => {
    const items = new Map<string, string>();
    const local: WebStorageLike = { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v) };
    const storage = webStorage(local);
    storage.set('switchboard:inbox', { offset: 7, seqs: {} });
    assert.equal(items.get('switchboard:inbox'), '{"offset":7,"seqs":{}}');
    assert.deepEqual(storage.get('switchboard:inbox'), { offset: 7, seqs: {} });
    items.set('other', 'not json');
    assert.equal(storage.get('other'), undefined);
  });

  it('writes in order even when the storage is asynchronous, and reports failures instead of throwing', async () => {
    const written: number[] = [];
    const errors: unknown[] = [];
    const writer = new StorageWriter({
      get: () => undefined,
      set: async (_k, v) => {
        if (v === 2) throw new Error('quota exceeded');
        await new Promise((resolve) => setImmediate(resolve));
        written.push(v as number);
      },
    }, (err) => errors.push(err));
    void writer.write('k', 1);
    void writer.write('k', 2);
    void writer.write('k', 3);
    await writer.flush();
    assert.deepEqual(written, [1, 3]);
    assert.equal(errors.length, 1);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asSocketId, asTenantId, asUserId } from '../../src/domain/ids.js';
import type { PresenceStore } from '../../src/ports/presence-store.js';

const acme = asTenantId('acme');
const u = asUserId;
const s = asSocketId;
const T1 = '2026-11-22T10:00:00.000Z';
const T2 = '2026-11-22T10:05:00.000Z';

/** The behaviour every PresenceStore must have, run against each implementation. */
export function presenceStoreContract(name: string, make: () => Promise<PresenceStore>): void {
  describe(`PresenceStore contract: ${name}`, () => {
    it('reads a user never seen as offline with no last seen', async () => {
      const p = await make();
      assert.deepEqual(await p.get(acme, [u('ghost')]), [{ userId: 'ghost', status: 'offline', customStatus: null, lastSeen: null, devices: 0 }]);
    });

    it('counts sessions so that exactly one caller sees the first arrive and the last leave', async () => {
      const p = await make();
      assert.equal(await p.addSession(acme, u('ann'), s('a1'), T1), 1);
      assert.equal(await p.addSession(acme, u('ann'), s('a2'), T1), 2);
      assert.equal(await p.addSession(acme, u('ann'), s('a2'), T1), 2, 'adding the same session again changes nothing');
      assert.equal(await p.removeSession(acme, u('ann'), s('a1'), T2), 1);
      assert.equal(await p.removeSession(acme, u('ann'), s('a1'), T2), 1, 'removing it again changes nothing');
      assert.equal(await p.removeSession(acme, u('ann'), s('a2'), T2), 0);
      const [ann] = await p.get(acme, [u('ann')]);
      assert.deepEqual(ann, { userId: 'ann', status: 'offline', customStatus: null, lastSeen: T2, devices: 0 });
    });

    it('counts concurrent arrivals atomically', async () => {
      const p = await make();
      const counts = await Promise.all(Array.from({ length: 20 }, (_, i) => p.addSession(acme, u('crowd'), s(`c${i}`), T1)));
      assert.deepEqual([...counts].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
    });

    it('keeps the chosen status and custom text while online and across reconnects, and clears the text on null', async () => {
      const p = await make();
      await p.addSession(acme, u('bea'), s('b1'), T1);
      assert.equal((await p.setStatus(acme, u('bea'), { status: 'dnd', customStatus: 'deep work' })).status, 'dnd');
      assert.deepEqual(await p.get(acme, [u('bea')]), [{ userId: 'bea', status: 'dnd', customStatus: 'deep work', lastSeen: T1, devices: 1 }]);
      await p.removeSession(acme, u('bea'), s('b1'), T2);
      assert.equal((await p.get(acme, [u('bea')]))[0]!.status, 'offline', 'no device: offline whatever was chosen');
      await p.addSession(acme, u('bea'), s('b2'), T2);
      assert.equal((await p.get(acme, [u('bea')]))[0]!.status, 'dnd', 'the choice comes back with the user');
      const cleared = await p.setStatus(acme, u('bea'), { customStatus: null });
      assert.deepEqual([cleared.status, cleared.customStatus], ['dnd', null]);
      assert.equal((await p.setStatus(acme, u('bea'), { status: 'online' })).status, 'online');
    });

    it('answers many users in the order asked, and keeps tenants apart', async () => {
      const p = await make();
      await p.addSession(acme, u('cy'), s('x'), T1);
      await p.addSession(asTenantId('globex'), u('dee'), s('y'), T1);
      await p.setStatus(asTenantId('globex'), u('cy'), { status: 'away' });
      const read = await p.get(acme, [u('dee'), u('cy'), u('zed')]);
      assert.deepEqual(read.map((x) => [x.userId, x.status]), [['dee', 'offline'], ['cy', 'online'], ['zed', 'offline']]);
    });
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asServerId } from '../../src/domain/ids.js';
import type { ServerDirectory } from '../../src/ports/server-directory.js';

const id = asServerId;

/** The behaviour every ServerDirectory must have; `make` gets the TTL in ms. */
export function serverDirectoryContract(name: string, make: (ttlMs: number) => Promise<ServerDirectory>): void {
  describe(`ServerDirectory contract: ${name}`, () => {
    it('counts a server dead only once its last heartbeat is older than the TTL', async () => {
      const d = await make(1000);
      await d.heartbeat(id('a'), 10_000);
      await d.heartbeat(id('b'), 10_500);
      assert.deepEqual(await d.deadServers(10_900), []);
      assert.deepEqual(await d.deadServers(11_001), ['a']);
      await d.heartbeat(id('a'), 11_001);
      assert.deepEqual(await d.deadServers(11_600), ['b'], 'a heartbeat brings a server back');
    });

    it('tells a heartbeat whether the server was listed already', async () => {
      const d = await make(1000);
      assert.equal(await d.heartbeat(id('a'), 1000), false, 'the first heartbeat lists it');
      assert.equal(await d.heartbeat(id('a'), 1500), true);
      await d.remove(id('a'));
      assert.equal(await d.heartbeat(id('a'), 2000), false, 'a heartbeat after it was reaped lists it again');
      assert.equal(await d.heartbeat(id('a'), 2500), true);
    });

    it('lets exactly one of many claim a dead server', async () => {
      const d = await make(1000);
      await d.heartbeat(id('dead'), 0);
      const claims = await Promise.all(['x', 'y', 'z', 'w'].map((by) => d.claim(id('dead'), id(by))));
      assert.equal(claims.filter(Boolean).length, 1);
    });

    it('forgets a removed server', async () => {
      const d = await make(1000);
      await d.heartbeat(id('gone'), 0);
      await d.remove(id('gone'));
      assert.deepEqual(await d.deadServers(100_000), []);
    });
  });
}

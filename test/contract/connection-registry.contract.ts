import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asDeviceId, asServerId, asSocketId, asTenantId, asUserId } from '../../src/domain/ids.js';
import type { ConnectionRegistry, SocketConnection } from '../../src/ports/connection-registry.js';

const conn = (socket: string, user: string, server = 's1', tenant = 'acme', device = `${user}-phone`): SocketConnection => ({
  socketId: asSocketId(socket),
  serverId: asServerId(server),
  tenantId: asTenantId(tenant),
  userId: asUserId(user),
  deviceId: asDeviceId(device),
  connectedAt: '2026-11-22T10:00:00.000Z',
});
const sockets = (cs: SocketConnection[]) => cs.map((c) => c.socketId).sort();

/** The behaviour every ConnectionRegistry must have, run against each implementation. */
export function connectionRegistryContract(name: string, make: () => Promise<ConnectionRegistry>): void {
  describe(`ConnectionRegistry contract: ${name}`, () => {
    it('finds every socket of every device of the users asked for, and nothing else', async () => {
      const r = await make();
      await r.register(conn('a1', 'alice', 's1', 'acme', 'phone'));
      await r.register(conn('a2', 'alice', 's2', 'acme', 'laptop'));
      await r.register(conn('b1', 'bob', 's1'));
      await r.register(conn('c1', 'carol', 's2'));
      assert.deepEqual(sockets(await r.connectionsOf(asTenantId('acme'), [asUserId('alice'), asUserId('bob')])), ['a1', 'a2', 'b1']);
      const [laptop] = (await r.connectionsOf(asTenantId('acme'), [asUserId('alice')])).filter((c) => c.socketId === 'a2');
      assert.deepEqual(laptop, conn('a2', 'alice', 's2', 'acme', 'laptop'), 'a connection reads back as registered');
      assert.deepEqual(await r.connectionsOf(asTenantId('acme'), [asUserId('nobody')]), []);
      assert.deepEqual(await r.connectionsOf(asTenantId('acme'), []), []);
    });

    it('keeps tenants apart: the same user id in another tenant is another user', async () => {
      const r = await make();
      await r.register(conn('x1', 'alice', 's1', 'acme'));
      await r.register(conn('y1', 'alice', 's1', 'globex'));
      assert.deepEqual(sockets(await r.connectionsOf(asTenantId('globex'), [asUserId('alice')])), ['y1']);
    });

    it('answers a user named twice once', async () => {
      const r = await make();
      await r.register(conn('d1', 'dan'));
      assert.deepEqual(sockets(await r.connectionsOf(asTenantId('acme'), [asUserId('dan'), asUserId('dan')])), ['d1']);
    });

    it('forgets an unregistered socket, and registering or unregistering twice changes nothing', async () => {
      const r = await make();
      await r.register(conn('e1', 'eve'));
      await r.register(conn('e1', 'eve'));
      await r.register(conn('e2', 'eve'));
      await r.unregister(conn('e1', 'eve'));
      await r.unregister(conn('e1', 'eve'));
      assert.deepEqual(sockets(await r.connectionsOf(asTenantId('acme'), [asUserId('eve')])), ['e2']);
      await r.unregister(conn('e2', 'eve'));
      assert.deepEqual(await r.connectionsOf(asTenantId('acme'), [asUserId('eve')]), []);
    });

    it('lists what one server holds, across users and tenants, for reaping', async () => {
      const r = await make();
      await r.register(conn('f1', 'fay', 'dead', 'acme', 'phone'));
      await r.register(conn('f2', 'gus', 'dead', 'globex', 'tablet'));
      await r.register(conn('f3', 'fay', 'alive', 'acme', 'laptop'));
      const held = await r.connectionsOnServer(asServerId('dead'));
      assert.deepEqual(held.map((c) => [c.tenantId, c.userId, c.socketId, c.deviceId, c.serverId]).sort(), [
        ['acme', 'fay', 'f1', 'phone', 'dead'],
        ['globex', 'gus', 'f2', 'tablet', 'dead'],
      ]);
      for (const c of held) await r.unregister(c);
      assert.deepEqual(await r.connectionsOnServer(asServerId('dead')), []);
      assert.deepEqual(sockets(await r.connectionsOf(asTenantId('acme'), [asUserId('fay')])), ['f3']);
    });
  });
}

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { io as connectClient } from 'socket.io-client';
import { createFastJwtTokenVerifier } from '../../src/adapters/fast-jwt/fast-jwt-token-verifier.js';
import { mintToken } from '../../src/adapters/jose/mint-token.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';
import { asServerId } from '../../src/domain/ids.js';
import { createSocketServer, handshakeMiddleware, type SwitchboardIo, type SwitchboardSocket } from '../../src/transport/socketio/socket-server.js';

const SECRET = 'handshake-secret-0123456789';
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('handshake middleware, on a real Socket.IO server', () => {
  const http = createServer();
  let ioServer: SwitchboardIo;
  let url: string;

  before(async () => {
    ioServer = createSocketServer(http, { pingIntervalMs: 25_000, pingTimeoutMs: 20_000, maxHttpBufferBytes: 1e6, perMessageDeflate: false, transports: ['websocket'], corsOrigin: '*' });
    const verifier = createFastJwtTokenVerifier({ secret: SECRET });
    ioServer.use(handshakeMiddleware({
      serverId: asServerId('server-1'),
      verify: (t) => verifier.verify(t),
      admit: async () => undefined,
      accepting: () => true,
      trustProxy: false,
      clock: systemClock,
      logger: quiet,
    }));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    await ioServer.close();
  });

  it('keeps the session, which is also the registry entry, and not the token once verified', async () => {
    const connected = once(ioServer, 'connection') as Promise<[SwitchboardSocket]>;
    const client = connectClient(url, { auth: { token: await mintToken({ secret: SECRET, user: 'alice', tenant: 'acme' }), v: 1, deviceId: 'phone' }, transports: ['websocket'], reconnection: false, forceNew: true });
    try {
      const [socket] = await connected;
      const { session } = socket.data;
      assert.equal(socket.handshake.auth.token, undefined, 'the token is not kept');
      assert.equal(socket.handshake.auth.deviceId, 'phone', 'the rest of the handshake is');
      assert.deepEqual(
        { socketId: session.socketId, serverId: session.serverId, tenantId: session.tenantId, userId: session.userId, deviceId: session.deviceId },
        { socketId: socket.id, serverId: 'server-1', tenantId: 'acme', userId: 'alice', deviceId: 'phone' },
      );
      assert.ok(!Number.isNaN(Date.parse(session.connectedAt)));
    } finally {
      client.close();
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryConnectionRegistry } from '../../src/adapters/memory/memory-connection-registry.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';
import { createUlidGenerator } from '../../src/adapters/system/ulid-generator.js';
import { EnvelopeFactory } from '../../src/core/routing/envelopes.js';
import { LocalConnections } from '../../src/core/routing/local-connections.js';
import { SessionService, type SessionInfo } from '../../src/core/sessions/session-service.js';
import { asDeviceId, asServerId, asSocketId, asTenantId, asUserId, type SocketId } from '../../src/domain/ids.js';
import type { Principal } from '../../src/domain/model.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('SessionService', () => {
  it('removes a session closed while it was opening, after the open registered it', async () => {
    const registry = new MemoryConnectionRegistry();
    const local = new LocalConnections();
    const presence: string[] = [];
    let release = (): void => undefined;
    const topics = new Promise<string[]>((resolve) => {
      release = () => resolve([]);
    });
    const sessions = new SessionService(
      asServerId('server-1'),
      registry,
      local,
      {
        connected: async (_p: Principal, socketId: SocketId) => void presence.push(`online ${socketId}`),
        disconnected: (_p: Principal, socketId: SocketId) => void presence.push(`offline ${socketId}`),
        reap: async () => undefined,
      },
      { join: async () => undefined, emit: () => undefined, disconnect: () => undefined },
      new EnvelopeFactory(createUlidGenerator(), systemClock),
      systemClock,
      quiet,
      { maxConnectionsPerUser: 5, expiryWarningMs: 1000, topicsOf: () => topics },
    );
    const tenant = asTenantId('acme');
    const info: SessionInfo = {
      socketId: asSocketId('s1'), serverId: asServerId('server-1'), tenantId: tenant, userId: asUserId('alice'), deviceId: asDeviceId('phone'),
      userAgent: '', ip: '127.0.0.1', transport: 'websocket', connectedAt: new Date().toISOString(), expiresAt: Date.now() + 60_000, inbox: null,
    };
    // The socket goes away while the open waits for the user's topics.
    const opening = sessions.open(info);
    const closing = sessions.close(info.socketId);
    release();
    await Promise.all([opening, closing]);
    assert.deepEqual(await registry.connectionsOf(tenant, [info.userId]), [], 'not left in the registry');
    assert.deepEqual(local.connectionsOf(tenant, [info.userId]), [], 'not left in the local index');
    assert.equal(sessions.size, 0);
    assert.deepEqual(presence, ['online s1', 'offline s1'], 'online, then offline: not left online');
  });
});

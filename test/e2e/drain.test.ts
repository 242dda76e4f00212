import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import type { Envelope } from '../../src/domain/protocol/envelope.js';
import { closeClients, connect, connectError, ok, startServer, token } from '../helpers/harness.js';

interface DisconnectData { code: string; message: string; reconnect: boolean }

describe('graceful drain', () => {
  after(closeClients);

  it('turns readiness red, refuses new connections and closes existing ones in spread-out batches with a reconnect reason', async () => {
    const server = await startServer({ SWITCHBOARD_DRAIN_WINDOW_MS: '1500', SWITCHBOARD_SHUTDOWN_TIMEOUT_MS: '8000', SWITCHBOARD_STORE: 'memory' });
    const clients: Socket[] = [];
    for (let i = 0; i < 150; i++) clients.push(await connect(server, `user${i}`));
    const told = new Map<Socket, DisconnectData>();
    const gone = clients.map((c) => new Promise<void>((resolve) => {
      c.once('session:disconnect', (env: Envelope<DisconnectData>) => told.set(c, env.payload.data));
      c.once('disconnect', () => resolve());
    }));
    const firstGone = Promise.race(gone);

    const stopped = server.dispose();
    const ready = await fetch(`${server.url}/health/ready`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { checks: Record<string, string> }).checks.socket, 'draining');
    const refused = await connectError(server, { token: await token('late'), v: 1 });
    assert.equal(refused.data?.code, 'UNAVAILABLE');

    // 150 connections in 3 batches over 1.5 s: when the first batch is closed, others still work.
    await firstGone;
    const stillOpen = clients.filter((c) => c.connected);
    assert.ok(stillOpen.length >= 50, `only ${stillOpen.length} connections were left after the first batch`);
    await ok(stillOpen[stillOpen.length - 1]!, 'room:list', {});

    await Promise.all(gone);
    await stopped;
    assert.equal(told.size, clients.length, 'every client was told why');
    for (const data of told.values()) assert.deepEqual(data, { code: 'SERVER_SHUTDOWN', message: 'The server is shutting down; reconnect elsewhere', reconnect: true });
  });
});

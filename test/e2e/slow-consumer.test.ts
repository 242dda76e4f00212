import assert from 'node:assert/strict';
import type { Socket as NetSocket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { closeClients, connect, createRoom, ok, record, serverStatus, startServer, type TestServer } from '../helpers/harness.js';


describe('slow consumers', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ SWITCHBOARD_MAX_BUFFERED_BYTES: String(256 * 1024), SWITCHBOARD_RATE_LIMITS: 'message=100000' });
  });
  after(() => server.dispose());
  afterEach(() => closeClients());

  it('closes a connection that stops reading once it holds more than the limit unsent, and no one else is affected', async () => {
    const alice = await connect(server, 'alice');
    const bob = await connect(server, 'bob');
    const carol = await connect(server, 'carol');
    const room = await createRoom(alice, 'group', ['bob', 'carol']);
    const atCarol = record<{ id: string }>(carol, 'message:new');
    // Bob's client stops reading its TCP connection, as a frozen tab or a stalled network would.
    const bobTcp = (bob.io.engine.transport as unknown as { ws: { _socket: NetSocket } }).ws._socket;
    bobTcp.pause();
    const content = 'x'.repeat(15_000);
    let sent = 0;
    // The kernel's buffers on both ends take several MB first; bounded at 60 MB in all.
    for (; sent < 4000; sent++) {
      await ok(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: `m${sent}`, content });
      if (sent % 50 === 49 && (await serverStatus(server)).delivery.slowConsumers > 0) break;
    }
    assert.ok(sent < 4000, 'the server closed the slow connection');
    assert.equal((await serverStatus(server)).delivery.slowConsumers, 1, 'only the slow one');
    assert.equal((await serverStatus(server)).activeConnections, 2);

    // Once Bob's client reads again, it finds its connection gone and can reconnect; nothing is lost.
    const gone = new Promise<string>((resolve) => bob.once('disconnect', resolve));
    bobTcp.resume();
    assert.match(await gone, /transport (close|error)/);
    const again = await connect(server, 'bob');
    const page = await ok<{ messages: { seq: number }[] }>(again, 'message:history', { conversationId: room.conversation.id, limit: 1 });
    assert.equal(page.messages[0]!.seq, sent + 1, 'every message is in history');

    // Carol, reading all along, got every message; the server still serves.
    await ok(alice, 'message:send', { conversationId: room.conversation.id, clientMessageId: 'after', content: 'still here' });
    await ok(carol, 'room:list', {});
    assert.equal(atCarol.length, sent + 2);
  });
});

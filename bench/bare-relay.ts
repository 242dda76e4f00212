import { createServer } from 'node:http';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';

/*
 * The baseline: a bare Socket.IO 4 relay doing the same routing as Switchboard — take an
 * event, emit it to the recipients' sockets (users, or everyone in a room), acknowledge
 * it — with none of its features: no auth, validation, sequence, storage, inbox or
 * registry. A client names itself and its rooms in the handshake (`auth: { user, rooms }`),
 * as Switchboard restores a user's rooms on connect. With REDIS_URL, several relays form
 * one cluster over Socket.IO's sharded Redis adapter, as Switchboard's servers do.
 * Prints its port on stdout.
 */
interface Send { to?: string[]; room?: string; id: string; content: string }

const http = createServer();
const io = new Server(http, { transports: ['websocket'] });
if (process.env.REDIS_URL) {
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createShardedAdapter(pub, sub, { subscriptionMode: 'dynamic' }));
}
io.on('connection', (socket) => {
  const auth = socket.handshake.auth as { user?: unknown; rooms?: unknown };
  const rooms = Array.isArray(auth.rooms) ? auth.rooms.map((r) => `room:${String(r)}`) : [];
  void socket.join([`user:${String(auth.user)}`, ...rooms]);
  socket.on('send', (msg: Send, ack: (r: unknown) => void) => {
    const to = msg.room !== undefined ? `room:${msg.room}` : (msg.to ?? []).map((u) => `user:${u}`);
    io.to(to).except(socket.id).emit('message:new', { id: msg.id, content: msg.content });
    ack({ ok: true });
  });
  socket.on('join', (msg: { room: string }, ack: (r: unknown) => void) => {
    void socket.join(`room:${msg.room}`);
    ack({ ok: true });
  });
});
process.on('SIGTERM', () => process.exit(0));
// The same listen backlog as Switchboard's default (SWITCHBOARD_LISTEN_BACKLOG).
http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', 4096, () => {
  const address = http.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});

import { createServer } from 'node:http';
import { Server } from 'socket.io';

/*
 * The baseline: a bare Socket.IO 4 relay doing the same job as one chat hop — take an
 * event, acknowledge it, emit it to the recipient's sockets — with no auth, validation,
 * storage or routing. Prints its port on stdout.
 */
const http = createServer();
const io = new Server(http, { transports: ['websocket'] });
io.on('connection', (socket) => {
  const user = String(socket.handshake.auth.user);
  void socket.join(`user:${user}`);
  socket.on('send', (msg: { to: string[]; id: string; content: string }, ack: (r: unknown) => void) => {
    io.to(msg.to.map((u) => `user:${u}`)).except(socket.id).emit('message:new', { id: msg.id, content: msg.content });
    ack({ ok: true });
  });
});
http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});

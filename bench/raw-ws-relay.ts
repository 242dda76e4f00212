import { createServer } from 'node:http';
import * as wsModule from 'ws';
import { WebSocket, WebSocketServer } from 'ws';

/*
 * The floor: the same routing as bench/bare-relay.ts over plain `ws`, with the bench's own
 * JSON frames instead of Socket.IO's (see bench/wire.ts): `{t:'hello',user,rooms}` →
 * `{t:'ready'}`; `{t:'send',id,to|room,content}` → `{t:'msg',id,content}` to every
 * recipient socket but the sender's, then `{t:'ack',id,ok:true}`; `{t:'join',id,room}`.
 * A delivery's WebSocket frame is built once however many sockets get it (what Socket.IO's
 * adapter does for a broadcast since 4.7). Every socket is pinged every 25 s, like
 * Socket.IO's heartbeat. Prints its port on stdout.
 */

/** ws's own frame builder and writer (not in its typings; socket.io-adapter and engine.io use them the same way). */
type Frame_ = Buffer[];
const frameOf = (text: string): Frame_ =>
  (wsModule as unknown as { Sender: { frame(data: Buffer, o: object): Frame_ } }).Sender.frame(Buffer.from(text), { readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true });
const sendFrame = (ws: WebSocket, frame: Frame_): void => {
  if (ws.readyState === WebSocket.OPEN) (ws as unknown as { _sender: { sendFrame(f: Frame_, cb?: () => void): void } })._sender.sendFrame(frame);
};
interface Frame { t: string; id?: number; user?: string; rooms?: string[]; to?: string[]; room?: string; content?: string; msgId?: string }

const users = new Map<string, Set<WebSocket>>();
const rooms = new Map<string, Set<WebSocket>>();
const add = (index: Map<string, Set<WebSocket>>, key: string, ws: WebSocket) => {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(ws);
};
const remove = (index: Map<string, Set<WebSocket>>, key: string, ws: WebSocket) => {
  const set = index.get(key);
  if (!set) return;
  set.delete(ws);
  if (set.size === 0) index.delete(key);
};

const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
wss.on('connection', (ws) => {
  let user: string | null = null;
  const joined = new Set<string>();
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as Frame;
    if (m.t === 'hello') {
      user = String(m.user);
      add(users, user, ws);
      for (const r of m.rooms ?? []) {
        joined.add(r);
        add(rooms, r, ws);
      }
      ws.send('{"t":"ready"}');
      return;
    }
    if (m.t === 'send') {
      const frame = frameOf(JSON.stringify({ t: 'msg', id: m.msgId, content: m.content }));
      if (m.room !== undefined) {
        for (const peer of rooms.get(m.room) ?? []) if (peer !== ws) sendFrame(peer, frame);
      } else {
        for (const u of m.to ?? []) for (const peer of users.get(u) ?? []) if (peer !== ws) sendFrame(peer, frame);
      }
      ws.send(`{"t":"ack","id":${m.id},"ok":true}`);
      return;
    }
    if (m.t === 'join' && m.room !== undefined) {
      joined.add(m.room);
      add(rooms, m.room, ws);
      ws.send(`{"t":"ack","id":${m.id},"ok":true}`);
    }
  });
  ws.on('close', () => {
    if (user !== null) remove(users, user, ws);
    for (const r of joined) remove(rooms, r, ws);
  });
  ws.on('error', () => undefined);
});
const heartbeat = setInterval(() => {
  for (const ws of wss.clients) ws.ping();
}, 25_000);
heartbeat.unref();
process.on('SIGTERM', () => process.exit(0));
// The same listen backlog as Switchboard's default (SWITCHBOARD_LISTEN_BACKLOG).
http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', 4096, () => {
  const address = http.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});

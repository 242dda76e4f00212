import { performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import { mintToken } from '../src/adapters/jose/mint-token.js';
import { SECRET } from './processes.js';

/** One user's connection, sending chat messages and timing the ones it receives. */
export interface BenchClient {
  user: string;
  /** Sends one message; resolves with the acknowledgement. */
  send(to: string, conversationId: string, id: string): Promise<boolean>;
  /** Called with the id of each message received. */
  onMessage(listener: (id: string) => void): void;
  close(): void;
}

interface Envelope { payload: { data: { clientMessageId?: string; id?: string } } }
type Ack = { ok: boolean; data?: { conversation: { id: string } } };

function ready(socket: Socket, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once(event, () => resolve());
    socket.once('connect_error', reject);
  });
}

export async function switchboardClient(url: string, user: string): Promise<BenchClient> {
  const token = await mintToken({ secret: SECRET, user, tenant: 'bench' });
  const socket = io(url, { auth: { token, v: 1 }, transports: ['websocket'], reconnection: false, forceNew: true });
  await ready(socket, 'session:ready');
  return {
    user,
    async send(_to, conversationId, id) {
      const ack = (await socket.timeout(10_000).emitWithAck('message:send', { conversationId, clientMessageId: id, content: id }).catch(() => ({ ok: false }))) as Ack;
      return ack.ok;
    },
    onMessage(listener) {
      socket.on('message:new', (env: Envelope) => listener(env.payload.data.clientMessageId ?? ''));
    },
    close: () => socket.close(),
  };
}

export async function bareClient(url: string, user: string): Promise<BenchClient> {
  const socket = io(url, { auth: { user }, transports: ['websocket'], reconnection: false, forceNew: true });
  await ready(socket, 'connect');
  return {
    user,
    async send(to, _conversationId, id) {
      const ack = (await socket.timeout(10_000).emitWithAck('send', { to: [to], id, content: id }).catch(() => ({ ok: false }))) as Ack;
      return ack.ok;
    },
    onMessage(listener) {
      socket.on('message:new', (data: { id: string }) => listener(data.id));
    },
    close: () => socket.close(),
  };
}

/** Creates a conversation as `owner`; the bare relay needs none. */
async function createConversation(url: string, owner: string, payload: Record<string, unknown>): Promise<string> {
  const token = await mintToken({ secret: SECRET, user: owner, tenant: 'bench' });
  const socket = io(url, { auth: { token, v: 1 }, transports: ['websocket'], reconnection: false, forceNew: true });
  await ready(socket, 'session:ready');
  const ack = (await socket.emitWithAck('room:create', payload)) as Ack;
  socket.close();
  if (!ack.ok || !ack.data) throw new Error('room:create failed');
  return ack.data.conversation.id;
}

export const directConversation = (url: string, a: string, b: string) => createConversation(url, a, { type: 'direct', members: [b] });
export const groupConversation = (url: string, owner: string, members: string[]) => createConversation(url, owner, { type: 'group', name: 'bench', members });

/** Latency samples in ms, keyed by message id: start when sent, stop when received. */
export class Stopwatch {
  private readonly started = new Map<string, number>();
  readonly samples: number[] = [];

  start(id: string): void {
    this.started.set(id, performance.now());
  }

  stop(id: string): void {
    const t0 = this.started.get(id);
    if (t0 === undefined) return;
    this.started.delete(id);
    this.samples.push(performance.now() - t0);
  }
}

export function percentiles(samples: number[]): { p50: number; p90: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  const r = (x: number) => Math.round(x * 100) / 100;
  return { p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), max: r(s.at(-1) ?? Number.NaN) };
}

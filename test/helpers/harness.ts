import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { mintToken } from '../../src/adapters/jose/mint-token.js';
import { loadConfig } from '../../src/app/config.js';
import { createSwitchboard, type Switchboard } from '../../src/app/switchboard.js';
import type { SystemMetrics } from '../../src/core/api/server-api.js';
import type { Envelope } from '../../src/domain/protocol/envelope.js';
import { retryWhilePortTaken } from './redis-server.js';

export const SECRET = 'test-secret-0123456789abcdef';
export const API_KEY = 'test-api-key-0123456789';

export interface TestServer {
  url: string;
  port: number;
  app: Switchboard;
  dataDir: string;
  /** Stops the server; the data directory stays for a restart. */
  stop(): Promise<void>;
  /** Stops the server and removes its data directory. */
  dispose(): Promise<void>;
}

/** Starts a real server on 127.0.0.1 and a free port, with its own data directory. */
export async function startServer(env: Record<string, string> = {}, dataDir?: string): Promise<TestServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    SWITCHBOARD_JWT_SECRET: SECRET,
    SWITCHBOARD_API_KEY: API_KEY,
    SWITCHBOARD_DATA_DIR: dir,
    SWITCHBOARD_LOG_LEVEL: 'silent',
    SWITCHBOARD_SHUTDOWN_TIMEOUT_MS: '3000',
    SWITCHBOARD_DRAIN_WINDOW_MS: '0',
    ...env,
  });
  const app = await createSwitchboard(config);
  let port: number;
  try {
    port = await app.start();
  } catch (err) {
    // The listen's error is the one to report (a refused port is tried again by restartServer).
    await app.stop().catch(() => undefined);
    if (!dataDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.stop();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    app,
    dataDir: dir,
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function token(user: string, tenant = 'acme', o: { device?: string; ttlSeconds?: number; secret?: string } = {}): Promise<string> {
  return mintToken({ secret: o.secret ?? SECRET, user, tenant, device: o.device, ttlSeconds: o.ttlSeconds });
}

export interface ClientOptions {
  tenant?: string;
  device?: string;
  transports?: ('websocket' | 'polling')[];
  ttlSeconds?: number;
  /** `auth.inbox`: acknowledged delivery (docs/protocol.md §12). */
  inbox?: { after?: number };
}

const open = new Set<Socket>();

/**
 * Starts a server again on the port of one that stopped. Another process may take the port
 * in between (an outgoing connection's ephemeral port), so a refused port is tried again.
 */
export function restartServer(stopped: Pick<TestServer, 'port' | 'dataDir'>, env: Record<string, string> = {}): Promise<TestServer> {
  return retryWhilePortTaken(
    () => startServer({ ...env, PORT: String(stopped.port) }, stopped.dataDir),
    (err) => (err as NodeJS.ErrnoException).code === 'EADDRINUSE',
  );
}

/** Connects the official client and resolves once the server sent `session:ready`. */
export async function connect(server: Pick<TestServer, 'url'>, user: string, o: ClientOptions = {}): Promise<Socket> {
  const socket = io(server.url, {
    auth: { token: await token(user, o.tenant, { device: o.device, ttlSeconds: o.ttlSeconds }), v: 1, ...(o.inbox ? { inbox: o.inbox } : {}) },
    transports: o.transports ?? ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  open.add(socket);
  socket.on('disconnect', () => open.delete(socket));
  await new Promise<void>((resolve, reject) => {
    socket.once('session:ready', () => resolve());
    socket.once('connect_error', reject);
    socket.once('disconnect', (reason) => reject(new Error(`${user} was disconnected before its session was ready (${reason})`)));
  });
  return socket;
}

/** Closes every client the tests opened. */
export function closeClients(): void {
  for (const s of open) s.close();
  open.clear();
}

/** Resolves with the connect_error a handshake fails with. */
export function connectError(server: Pick<TestServer, 'url'>, auth: Record<string, unknown>): Promise<Error & { data?: { code: string; message: string; details?: unknown } }> {
  const socket = io(server.url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.close();
      reject(new Error('connected although it should not have'));
    });
    socket.once('connect_error', (err) => {
      socket.close();
      resolve(err as Error & { data?: { code: string; message: string } });
    });
  });
}

/** Waits for the next `event` whose envelope matches, failing after `timeoutMs`. */
export function next<D = unknown>(socket: Socket, event: string, match: (data: D) => boolean = () => true, timeoutMs = 5000): Promise<Envelope<D>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`timed out waiting for ${event}`));
    }, timeoutMs);
    const listener = (env: Envelope<D>) => {
      if (!match(env.payload.data)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(env);
    };
    socket.on(event, listener);
  });
}

/** Records every envelope of `event` a socket receives, for asserting on what did (not) arrive. */
export function record<D = unknown>(socket: Socket, event: string): Envelope<D>[] {
  const seen: Envelope<D>[] = [];
  socket.on(event, (env: Envelope<D>) => seen.push(env));
  return seen;
}

export type AckBody<D> = { ok: true; data: D } | { ok: false; error: { code: string; message: string; retryable: boolean; details?: unknown; timestamp: string } };

/** Emits with an ack and returns the ack body. */
export async function call<D = Record<string, unknown>>(socket: Socket, event: string, payload?: unknown): Promise<AckBody<D>> {
  return (payload === undefined ? socket.timeout(5000).emitWithAck(event) : socket.timeout(5000).emitWithAck(event, payload)) as Promise<AckBody<D>>;
}

/** Emits with an ack and returns `data`, failing the test on an error ack. */
export async function ok<D = Record<string, unknown>>(socket: Socket, event: string, payload?: unknown): Promise<D> {
  const body = await call<D>(socket, event, payload);
  if (!body.ok) throw new Error(`${event} failed: ${body.error.code} ${body.error.message} ${JSON.stringify(body.error.details ?? '')}`);
  return body.data;
}

/** Emits and returns the error of an error ack, failing the test on success. */
export async function fails(socket: Socket, event: string, payload?: unknown): Promise<{ code: string; message: string; details?: unknown; retryable: boolean }> {
  const body = await call(socket, event, payload);
  if (body.ok) throw new Error(`${event} succeeded although it should have failed: ${JSON.stringify(body.data)}`);
  return body.error;
}

/**
 * Round-trips a cheap query through the socket. Events the server emitted to this socket
 * before answering arrive before the answer (one ordered connection), so after `settle`
 * a recorder holds everything that was sent until then.
 */
export async function settle(socket: Socket): Promise<void> {
  await ok(socket, 'room:list', {});
}

/** Polls `check` until it returns true (for state with no event, e.g. a stored count). */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 5000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface ConversationData {
  conversation: { id: string; type: string; name: string | null; isPublic: boolean; createdBy: string };
  members: { userId: string; role: string }[];
  created?: boolean;
}

/** Creates a conversation through the socket API. */
export async function createRoom(socket: Socket, type: 'direct' | 'group' | 'channel', members: string[], extra: Record<string, unknown> = {}): Promise<ConversationData> {
  return ok<ConversationData>(socket, 'room:create', { type, members, ...extra });
}

/** The server's `GET /v1/status` body. */
export async function serverStatus(server: Pick<TestServer, 'url'>): Promise<SystemMetrics> {
  const res = await fetch(`${server.url}/v1/status`, { headers: { authorization: `Bearer ${API_KEY}` } });
  return ((await res.json()) as { data: SystemMetrics }).data;
}

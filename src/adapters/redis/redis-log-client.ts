import { RESP_TYPES } from 'redis';
import type { RedisOptions } from './redis-connection.js';

export type RedisArgument = string | Buffer;

/** One connection's raw commands; bulk replies come back as Buffers, so records stay binary. */
export interface RedisLogConnection {
  /** Runs one command; `key` routes it on a Cluster. */
  send(key: string, args: RedisArgument[]): Promise<unknown>;
  /** Drops the connection at once; a command in flight rejects. */
  close(): Promise<void>;
}

/** What the Redis durable log needs of a deployment: commands, and connections of its own for blocking reads. */
export interface RedisLogClient {
  kind: RedisOptions['mode'];
  /** Runs one command on the shared connection; `key` routes it on a Cluster. */
  send(key: string, args: RedisArgument[]): Promise<unknown>;
  /**
   * A new connection for one consumer's blocking reads, or null when the deployment cannot
   * lend one (Sentinel: its master pool is small and shared, so a consumer polls instead).
   * Gives up when `signal` aborts while it waits for Redis.
   */
  dedicated(signal: AbortSignal): Promise<RedisLogConnection | null>;
}

const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

interface NodeClient {
  sendCommand(args: RedisArgument[], options: typeof BUFFERS): Promise<unknown>;
  duplicate(): NodeClient;
  connect(): Promise<unknown>;
  destroy(): void;
  readonly isOpen: boolean;
  on(event: 'error', listener: (err: unknown) => void): unknown;
}

interface NodeCluster {
  sendCommand(key: string, isReadonly: boolean, args: RedisArgument[], options: typeof BUFFERS): Promise<unknown>;
  duplicate(): NodeCluster;
  connect(): Promise<unknown>;
  destroy(): void;
  readonly isOpen: boolean;
  on(event: 'error', listener: (err: unknown) => void): unknown;
}

interface NodeSentinel {
  _execute<T>(isReadonly: boolean, fn: (client: { sendCommand(args: RedisArgument[], options: typeof BUFFERS): Promise<T> }) => Promise<T>): Promise<T>;
}

/**
 * Wraps the node-redis client of `connectRedis` (`RedisConnections.pubClient`) for the
 * durable log. Dedicated connections are duplicates of it, so they share its URL, options
 * and reconnection strategy; their errors surface as failed commands, which the consumer
 * loop logs and retries.
 */
export function redisLogClient(client: object, mode: RedisOptions['mode']): RedisLogClient {
  if (mode === 'single') {
    const c = client as NodeClient;
    return {
      kind: mode,
      send: (_key, args) => c.sendCommand(args, BUFFERS),
      async dedicated(signal) {
        const d = c.duplicate();
        await connectUnlessAborted(d, signal);
        return {
          send: (_key, args) => d.sendCommand(args, BUFFERS),
          close: async () => {
            if (d.isOpen) d.destroy();
          },
        };
      },
    };
  }
  if (mode === 'cluster') {
    const c = client as NodeCluster;
    return {
      kind: mode,
      send: (key, args) => c.sendCommand(key, false, args, BUFFERS),
      async dedicated(signal) {
        const d = c.duplicate();
        await connectUnlessAborted(d, signal);
        return {
          send: (key, args) => d.sendCommand(key, false, args, BUFFERS),
          close: async () => {
            if (d.isOpen) d.destroy();
          },
        };
      },
    };
  }
  // The Sentinel view of connectRedis passes only plain `sendCommand(args)` through, without
  // reply options. `_execute` runs on the shared master connection as every command does;
  // `use()` would take it exclusively, about 40 ms a command.
  const c = client as NodeSentinel;
  return {
    kind: mode,
    send: (_key, args) => c._execute(false, (master) => master.sendCommand(args, BUFFERS)),
    dedicated: async () => null,
  };
}

/** Connects a duplicate; node-redis retries a refused connection forever, so an abort drops it instead. */
async function connectUnlessAborted(d: Pick<NodeClient, 'connect' | 'destroy' | 'isOpen' | 'on'>, signal: AbortSignal): Promise<void> {
  d.on('error', () => undefined);
  const drop = () => {
    if (d.isOpen) d.destroy();
  };
  signal.addEventListener('abort', drop, { once: true });
  try {
    if (signal.aborted) throw new Error('the consumer stopped before its connection opened');
    await d.connect();
  } catch (err) {
    drop();
    throw err;
  } finally {
    signal.removeEventListener('abort', drop);
  }
}

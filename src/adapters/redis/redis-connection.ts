import { createClient, createCluster, createSentinel } from 'redis';
import type { Logger } from '../../ports/logger.js';

/**
 * The Redis commands the adapters use, as one narrow interface that a single client, a
 * Sentinel-managed client and a Cluster client all satisfy (a Cluster routes each
 * command by its first key, so multi-key scripts keep their keys in one hash slot).
 */
export interface RedisCommands {
  hSet(key: string, value: Record<string, string>): Promise<number>;
  hGet(key: string, field: string): Promise<string | null>;
  hGetAll(key: string): Promise<Record<string, string>>;
  hDel(key: string, fields: string[]): Promise<number>;
  hLen(key: string): Promise<number>;
  sAdd(key: string, members: string[]): Promise<number>;
  sRem(key: string, members: string[]): Promise<number>;
  sMembers(key: string): Promise<string[]>;
  zAdd(key: string, member: { score: number; value: string }): Promise<number>;
  zRangeByScore(key: string, min: number | string, max: number | string): Promise<string[]>;
  zRem(key: string, member: string): Promise<number>;
  expire(key: string, seconds: number): Promise<number>;
  del(key: string): Promise<number>;
  set(key: string, value: string, options: { NX: true; PX: number }): Promise<string | null>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/**
 * Pub/sub of raw buffers: publishing on the command connection, receiving on the
 * subscriber connection. On a Cluster it is sharded pub/sub (SPUBLISH/SSUBSCRIBE), so a
 * message travels only to the shard that owns its channel instead of to every node.
 */
export interface RedisPubSub {
  publish(channel: string, message: Buffer): Promise<number>;
  subscribe(channel: string, listener: (message: Buffer) => void): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
}

export interface RedisOptions {
  /** `redis://host:port`; for a cluster or Sentinel, several comma-separated node URLs. */
  url: string;
  mode: 'single' | 'cluster' | 'sentinel';
  /** The master's name in Sentinel mode (default `mymaster`). */
  sentinelName?: string;
}

export interface RedisConnections {
  commands: RedisCommands;
  pubsub: RedisPubSub;
  /** The raw clients, for Socket.IO's Redis adapter. */
  pubClient: object;
  subClient: object;
  /** True while both connections are up. */
  healthy(): boolean;
  /** Called each time the command connection is ready again after it was lost. */
  onReconnect(listener: () => void): void;
  close(): Promise<void>;
}

/**
 * Opens a publisher/command connection and a separate subscriber connection. Both
 * reconnect by themselves with capped backoff; errors are logged, never thrown at the
 * process; `onReconnect` listeners run each time the connection is usable again.
 */
export async function connectRedis(options: RedisOptions, logger: Logger): Promise<RedisConnections> {
  const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100);
  const urls = options.url.split(',').map((u) => u.trim()).filter(Boolean);
  const reconnectListeners: (() => void)[] = [];

  if (options.mode === 'cluster') {
    const pub = createCluster({ rootNodes: urls.map((url) => ({ url })), defaults: { socket: { reconnectStrategy }, disableOfflineQueue: true } });
    const sub = pub.duplicate();
    // The client learns a new topology only from a MOVED reply, which a master that died never
    // sends; so while unhealthy each probe asks for the slots again (a failover), then pings
    // every master it now knows.
    const rediscover = async (cluster: typeof pub) => cluster._slots.rediscover(await cluster.nodeClient(cluster.getRandomNode()));
    const health = probedHealth(async () => {
      await Promise.all([rediscover(pub), rediscover(sub)]);
      await Promise.all(pub.masters.map(async (m) => (await pub.nodeClient(m)).ping()));
    }, logger, () => reconnectListeners.forEach((l) => l()));
    for (const client of [pub, sub]) {
      client.on('error', (err: unknown) => health.down(err));
      client.on('node-error', (err: unknown) => health.down(err));
      client.on('node-reconnecting', () => health.down(new Error('a cluster node is reconnecting')));
    }
    await Promise.all([pub.connect(), sub.connect()]);
    return {
      commands: pub as unknown as RedisCommands,
      pubsub: {
        publish: (channel, message) => pub.sPublish(channel, message),
        subscribe: (channel, listener) => sub.sSubscribe(channel, listener, true),
        unsubscribe: (channel) => sub.sUnsubscribe(channel),
      },
      pubClient: pub,
      subClient: sub,
      healthy: health.healthy,
      onReconnect: (l) => reconnectListeners.push(l),
      close: async () => {
        health.stop();
        // close() waits for a node's replies and refuses a node that is not connected, which
        // then goes on reconnecting for ever (a master that died): those are destroyed first.
        for (const cluster of [pub, sub]) {
          const clients = [...cluster.masters.flatMap((m) => [m.client, m.pubSub?.client]), ...cluster.replicas.map((r) => r.client)];
          for (const client of clients) if (client?.isOpen && !client.isReady) client.destroy();
        }
        await Promise.allSettled([sub.close(), pub.close()]);
      },
    };
  }
  if (options.mode === 'sentinel') {
    // Sentinel keeps a command connection and a pub/sub connection to the current master and follows failovers.
    const sentinel = createSentinel({
      name: options.sentinelName ?? 'mymaster',
      sentinelRootNodes: urls.map((u) => {
        const { hostname, port } = new URL(u);
        return { host: hostname, port: Number(port || 26379) };
      }),
      nodeClientOptions: { socket: { reconnectStrategy }, disableOfflineQueue: true },
    });
    const health = probedHealth(() => sentinel.sendCommand(false, ['PING']), logger, () => reconnectListeners.forEach((l) => l()));
    sentinel.on('error', (err: unknown) => health.down(err));
    sentinel.on('client-error', (event: unknown) => health.down(event));
    await sentinel.connect();
    // Socket.IO's adapter sends raw commands as sendCommand(args), the single-client form.
    const adapterView = new Proxy(sentinel, {
      get(target, prop) {
        if (prop === 'sendCommand') return (args: string[]) => target.sendCommand(false, args);
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' && prop !== 'constructor' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    return {
      commands: sentinel as unknown as RedisCommands,
      pubsub: {
        publish: (channel, message) => sentinel.sPublish(channel, message),
        subscribe: (channel, listener) => sentinel.sSubscribe(channel, listener, true),
        unsubscribe: (channel) => sentinel.sUnsubscribe(channel),
      },
      pubClient: adapterView,
      subClient: adapterView,
      healthy: health.healthy,
      onReconnect: (l) => reconnectListeners.push(l),
      close: async () => {
        health.stop();
        await sentinel.close().catch(() => undefined);
      },
    };
  }
  const up = { pub: false, sub: false };
  let everReady = false;
  const watch = (client: { on(event: string, fn: (arg?: unknown) => void): unknown }, name: 'pub' | 'sub') => {
    client.on('ready', () => {
      up[name] = true;
      logger.info({ connection: name }, 'redis ready');
      if (name !== 'pub') return;
      if (everReady) for (const l of reconnectListeners) l();
      everReady = true;
    });
    client.on('end', () => (up[name] = false));
    client.on('reconnecting', () => (up[name] = false));
    client.on('error', (err) => {
      if (up[name]) logger.warn({ err, connection: name }, 'redis connection error');
      up[name] = false;
    });
  };

  // Commands fail fast while disconnected instead of queueing, so local traffic never waits on Redis.
  const pub = createClient({ url: urls[0], socket: { reconnectStrategy }, disableOfflineQueue: true });
  const sub = pub.duplicate();
  watch(pub, 'pub');
  watch(sub, 'sub');
  await Promise.all([pub.connect(), sub.connect()]);
  return {
    commands: pub as unknown as RedisCommands,
    pubsub: {
      publish: (channel, message) => pub.publish(channel, message),
      subscribe: (channel, listener) => sub.subscribe(channel, listener, true),
      unsubscribe: (channel) => sub.unsubscribe(channel),
    },
    pubClient: pub,
    subClient: sub,
    healthy: () => up.pub && up.sub,
    onReconnect: (l) => reconnectListeners.push(l),
    close: async () => {
      await Promise.allSettled([sub.close(), pub.close()]);
    },
  };
}

/**
 * Health of a client that does not say when it is back (Cluster, Sentinel): an error marks
 * it down, and from then on a PING every 500 ms tells when it answers again.
 */
function probedHealth(ping: () => Promise<unknown>, logger: Logger, back: () => void): { healthy(): boolean; down(err: unknown): void; stop(): void } {
  let up = true;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const probe = () => {
    ping().then(
      () => {
        if (up || stopped) return;
        up = true;
        clearInterval(timer);
        timer = undefined;
        logger.info({}, 'redis ready again');
        back();
      },
      () => undefined,
    );
  };
  return {
    healthy: () => up,
    down(err) {
      if (stopped) return;
      if (up) logger.warn({ err }, 'redis connection error');
      up = false;
      timer ??= setInterval(probe, 500);
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

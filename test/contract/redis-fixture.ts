import { after, before } from 'node:test';
import { createClient } from 'redis';
import { connectRedis, type RedisConnections } from '../../src/adapters/redis/redis-connection.js';
import type { Logger } from '../../src/ports/logger.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * A redis-server for one contract test file, started on a free port. `connect()` opens
 * connections as a server would; `flush()` empties the key space between tests.
 */
export function redisFixture(): { connect(): Promise<RedisConnections>; flush(): Promise<void>; readonly url: string } {
  let redis: TestRedis;
  const open: RedisConnections[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await redis.stop();
  });
  return {
    async connect() {
      const c = await connectRedis({ url: redis.url, mode: 'single' }, quiet);
      open.push(c);
      return c;
    },
    get url() {
      return redis.url;
    },
    async flush() {
      const client = createClient({ url: redis.url });
      await client.connect();
      await client.flushAll();
      await client.close();
    },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { until } from './harness.js';
import { freePort, startRedis, track } from './redis-server.js';

/** A Redis master watched by one Sentinel, both on free loopback ports. */
export interface TestSentinel {
  /** The Sentinel's URL, as SWITCHBOARD_REDIS_URL takes it in sentinel mode. */
  url: string;
  masterName: string;
  stop(): Promise<void>;
}

export async function startSentinel(masterName = 'sbmaster'): Promise<TestSentinel> {
  const master = await startRedis();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-sentinel-'));
  // Sentinel rewrites its configuration file, so it gets one of its own.
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`, ''].join('\n'));
  const sentinel: ChildProcess = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  track(sentinel);
  const stop = async () => {
    if (sentinel.exitCode === null && sentinel.signalCode === null) {
      const gone = new Promise((resolve) => sentinel.once('exit', resolve));
      sentinel.kill('SIGKILL');
      await gone;
    }
    await master.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(async () => {
      const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const reply = await client.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName]);
        return Array.isArray(reply) && reply.length === 2;
      } catch {
        return false;
      } finally {
        if (client.isOpen) client.destroy();
      }
    }, 10_000, 50);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${port}`, masterName, stop };
}

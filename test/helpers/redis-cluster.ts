import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { freePort, redisArgs, track, waitForRedis } from './redis-server.js';

/** A Redis Cluster of 3 masters and 3 replicas on loopback ports, owned by the tests. */
export interface TestRedisCluster {
  ports: number[];
  /** Seed node URLs, comma-separated, as SWITCHBOARD_REDIS_URL takes them. */
  url: string;
  /** Kills the node on `port` (SIGKILL). */
  kill(port: number): Promise<void>;
  /** The port of the master that serves the slot of `key`. */
  masterOf(key: string): Promise<number>;
  stop(): Promise<void>;
}

/** The cluster is up and, if the node is a replica, it has synced with its master (so it could take over). */
async function clusterOk(port: number): Promise<boolean> {
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const cluster = String(await client.sendCommand(['CLUSTER', 'INFO']));
    const replication = String(await client.sendCommand(['INFO', 'replication']));
    return cluster.includes('cluster_state:ok') && (replication.includes('role:master') || replication.includes('master_link_status:up'));
  } finally {
    client.destroy();
  }
}

/**
 * Starts a Redis Cluster of `nodes` redis-server processes (half masters, half replicas) on
 * free loopback ports. A node can lose its port, or its cluster bus port (port + 10 000), to
 * another process between the choice and its start, and then exits: the cluster is then
 * started again on other ports, up to three times.
 */
export async function startRedisCluster(nodes = 6): Promise<TestRedisCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(nodes);
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

async function startOnce(nodes: number): Promise<TestRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-redis-cluster-'));
  const ports: number[] = [];
  while (ports.length < nodes) {
    const p = await freePort();
    // The cluster bus uses port + 10000; keep both in range and distinct.
    if (p < 55_000 && !ports.includes(p)) ports.push(p);
  }
  const children: ChildProcess[] = ports.map((port) =>
    spawn('redis-server', redisArgs(port, ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000', '--repl-diskless-sync-delay', '0', '--dir', dir]), { stdio: 'ignore' }),
  );
  children.forEach((c) => track(c));
  const kill = (c: ChildProcess) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGKILL');
  });
  const stop = async () => {
    await Promise.all(children.map(kill));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map((p) => waitForRedis(p)));
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const states = await Promise.all(ports.map((p) => clusterOk(p)));
      if (states.every(Boolean)) break;
      if (Date.now() > deadline) throw new Error('the Redis Cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const masterOf = async (key: string): Promise<number> => {
    const client = createClient({ url: `redis://127.0.0.1:${ports[ports.length - 1]}` });
    await client.connect();
    try {
      const slot = Number(await client.sendCommand(['CLUSTER', 'KEYSLOT', key]));
      const ranges = (await client.sendCommand(['CLUSTER', 'SLOTS'])) as [number, number, [string, number]][];
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`no master serves slot ${slot}`);
      return Number(range[2][1]);
    } finally {
      await client.close();
    }
  };
  return {
    ports,
    url: ports.map((p) => `redis://127.0.0.1:${p}`).join(','),
    kill: (port) => kill(children[ports.indexOf(port)]!),
    masterOf,
    stop,
  };
}

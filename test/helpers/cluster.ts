import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_KEY, SECRET, until } from './harness.js';
import { onLogLines, type LogLine } from './log-lines.js';
import { freePort, PortTakenError, retryWhilePortTaken, track } from './redis-server.js';


/** One server process of a test cluster. */
export interface ClusterNode {
  /** Position in the cluster; stays the same across restarts. */
  index: number;
  url: string;
  port: number;
  serverId: string;
  child: ChildProcess;
  /** Every log line the process wrote so far. */
  logs: LogLine[];
}

export interface TestCluster {
  /** The running node at `i` (throws if it was killed and not restarted). */
  node(i: number): ClusterNode;
  /** Every node ever started, in order (killed ones included), for their logs. */
  readonly history: ClusterNode[];
  /** The SQLite data directory all nodes share. */
  dataDir: string;
  /** Sends `signal` to node `i` and resolves once the process is gone. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts node `i` again on its port, with a new server id, and waits until it is ready. */
  restart(i: number): Promise<ClusterNode>;
  /** Kills every node and removes the data directory. */
  stop(): Promise<void>;
  /** The log lines of all nodes at or above `level` (pino numbers: 40 warn, 50 error). */
  logsAtLeast(level: number): (LogLine & { node: string })[];
}

/**
 * How long a node may take to answer /health/ready. Several nodes start at once, each
 * compiling the sources, while another test file loads the other core.
 */
const LAUNCH_TIMEOUT_MS = 60_000;


function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** What GET /health/ready answers (status and body, or why there was no answer). */
async function readiness(url: string): Promise<{ ready: boolean; answer: string }> {
  try {
    const r = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(1000) });
    return { ready: r.status === 200, answer: `${r.status} ${await r.text()}` };
  } catch (err) {
    return { ready: false, answer: String(err) };
  }
}

/** GET /health/ready answers 200. */
export async function isReady(url: string): Promise<boolean> {
  return (await readiness(url)).ready;
}

/**
 * Starts `n` `switchboard server` processes joined over the Redis at `env.SWITCHBOARD_REDIS_URL`,
 * each on its own free loopback port, all sharing one SQLite data directory (WAL mode, so
 * every process sees the same conversations). Resolves once every node answers
 * /health/ready with 200. The processes are killed when the test process exits.
 */
export async function startCluster(n: number, env: Record<string, string>): Promise<TestCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-cluster-'));
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const nodes: (ClusterNode | undefined)[] = Array.from({ length: n });
  const history: ClusterNode[] = [];
  let generation = 0;

  const launchOnce = async (i: number): Promise<ClusterNode> => {
    const port = ports[i]!;
    generation += 1;
    const serverId = `node${i}-g${generation}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/app/cli.ts', 'server'], {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        HOST: '127.0.0.1',
        SWITCHBOARD_SERVER_ID: serverId,
        SWITCHBOARD_JWT_SECRET: SECRET,
        SWITCHBOARD_API_KEY: API_KEY,
        SWITCHBOARD_DATA_DIR: dataDir,
        SWITCHBOARD_LOG_LEVEL: 'info',
        SWITCHBOARD_SHUTDOWN_TIMEOUT_MS: '3000',
        SWITCHBOARD_DRAIN_WINDOW_MS: '0',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    const node: ClusterNode = { index: i, url: `http://127.0.0.1:${port}`, port, serverId, child, logs: [] };
    history.push(node);
    onLogLines(child.stdout!, (line) => node.logs.push(line));
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let early = false;
    // Once its output is closed too, so stderr holds everything the node wrote.
    child.once('close', () => (early = true));
    /** What /health/ready last answered, for the error when the node never gets ready. */
    let lastAnswer = 'no answer yet';
    try {
      await until(async () => {
        if (early) throw new Error(`${serverId} exited before it was ready (${child.exitCode ?? child.signalCode}): ${stderr.slice(-2000)}`);
        const { ready, answer } = await readiness(node.url);
        lastAnswer = answer;
        return ready;
      }, LAUNCH_TIMEOUT_MS, 50);
    } catch (err) {
      child.kill('SIGKILL');
      if (early && stderr.includes('EADDRINUSE')) throw new PortTakenError(`port ${port} was taken before ${serverId} could listen`);
      if (early) throw err;
      const logs = node.logs.slice(-20).map((l) => JSON.stringify(l)).join('\n');
      throw new Error(`${serverId} not ready within ${LAUNCH_TIMEOUT_MS} ms; /health/ready: ${lastAnswer}; stderr: ${stderr.slice(-2000)}; last logs:\n${logs}`);
    }
    nodes[i] = node;
    return node;
  };

  /**
   * Another process may take a port between freePort() and the node's listen (an outgoing
   * connection's ephemeral port): a first start moves to another port, a restart tries again.
   */
  const launch = (i: number, restarting: boolean): Promise<ClusterNode> =>
    retryWhilePortTaken(async (attempt) => {
      if (attempt > 1 && !restarting) ports[i] = await freePort();
      return launchOnce(i);
    });

  const kill = async (i: number, signal: NodeJS.Signals = 'SIGKILL') => {
    const node = nodes[i];
    if (!node) return;
    nodes[i] = undefined;
    node.child.kill(signal);
    await exited(node.child);
  };

  const launched = await Promise.allSettled(ports.map((_, i) => launch(i, false)));
  const failed = launched.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // Only once every launch has ended: one still starting would find its data directory gone.
    await Promise.all(nodes.map((_, i) => kill(i)));
    rmSync(dataDir, { recursive: true, force: true });
    throw failed.reason;
  }

  return {
    node(i) {
      const node = nodes[i];
      if (!node) throw new Error(`node ${i} is not running`);
      return node;
    },
    history,
    dataDir,
    kill,
    restart: async (i) => {
      await kill(i);
      return launch(i, true);
    },
    async stop() {
      await Promise.all(nodes.map((_, i) => kill(i)));
      rmSync(dataDir, { recursive: true, force: true });
    },
    logsAtLeast(level) {
      return history.flatMap((node) => node.logs.filter((l) => (l.level ?? 0) >= level).map((l) => ({ ...l, node: node.serverId })));
    },
  };
}

import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import { setupMaster } from '@socket.io/sticky';
import type { Logger } from 'pino';
import type { Config } from './config.js';

export interface SupervisorOptions {
  workers: number;
  config: Config;
  logger: Logger;
}

/** A worker that dies within this long of starting counts as a failed start. */
const STARTUP_WINDOW_MS = 10_000;
const MAX_RESTART_DELAY_MS = 30_000;

/**
 * The primary process of `switchboard server --workers N`: it owns the port, hands every
 * connection to a worker (sticky by Engine.IO session id, so long-polling requests of one
 * session always reach the same worker; new sessions go to the worker with the fewest
 * connections), restarts workers that die, and drains them all on SIGTERM/SIGINT. Each
 * worker is a full cluster member joined to the others over Redis.
 */
export function runSupervisor({ workers, config, logger }: SupervisorOptions): void {
  const http = createServer();
  setupMaster(http, { loadBalancingMethod: 'least-connection' });
  cluster.setupPrimary({ serialization: 'advanced' });

  let stopping = false;
  const startedAt = new Map<Worker, number>();
  let failedStarts = 0;

  const fork = (slot: number): void => {
    const worker = cluster.fork({ SWITCHBOARD_WORKER_SLOT: String(slot) });
    startedAt.set(worker, Date.now());
    worker.on('exit', (code, signal) => {
      const lived = Date.now() - (startedAt.get(worker) ?? 0);
      startedAt.delete(worker);
      if (stopping) return;
      failedStarts = lived < STARTUP_WINDOW_MS ? failedStarts + 1 : 0;
      const delay = Math.min(MAX_RESTART_DELAY_MS, failedStarts === 0 ? 0 : 500 * 2 ** (failedStarts - 1));
      logger.error({ pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker exited; starting a new one');
      setTimeout(() => fork(slot), delay).unref();
    });
  };

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'draining workers');
    http.close();
    const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    for (const w of live) w.process.kill('SIGTERM');
    const hardStop = setTimeout(() => {
      logger.error('workers did not stop in time');
      process.exit(1);
    }, config.shutdownTimeoutMs + 2000);
    hardStop.unref();
    let remaining = live.length;
    if (remaining === 0) process.exit(0);
    for (const w of live) {
      w.once('exit', () => {
        remaining -= 1;
        if (remaining === 0) process.exit(0);
      });
    }
  };

  // The port opens once every worker is ready, so no connection waits on a worker still starting.
  let ready = 0;
  cluster.on('message', (_worker, message: unknown) => {
    if (!isReadyMessage(message) || ++ready !== workers) return;
    http.listen(config.port, config.host, config.listenBacklog, () => {
      const address = http.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      logger.info({ port, workers }, 'switchboard listening');
    });
  });
  for (let slot = 0; slot < workers; slot++) fork(slot);
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** What a worker sends its primary once it takes connections. */
export const WORKER_READY = { type: 'switchboard:worker-ready' } as const;

function isReadyMessage(m: unknown): boolean {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === WORKER_READY.type;
}

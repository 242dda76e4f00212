#!/usr/bin/env node
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, DEV_JWT_SECRET, loadConfig, type Config } from './config.js';
import { runSupervisor, WORKER_READY } from './workers.js';

const USAGE = `Usage:
  switchboard server [--workers [N]]       start the server (configuration from the environment; see README);
                                           --workers: N processes behind one port (default: one per core; needs Redis)
  switchboard processor                    consume the durable log into the store (SWITCHBOARD_LOG=redis|kafka;
                                           with the embedded log the server runs it itself)
  switchboard token --user ID --tenant ID [--device ID] [--ttl SECONDS]
                                           mint an HS256 access token with SWITCHBOARD_JWT_SECRET (or the dev secret)`;

/** A wrong command line: printed with exit code 2. */
class UsageError extends Error {}

/** `--workers [N]`: N processes behind one port (default: one per core); absent: one process. */
function workerCount(args: string[]): number {
  const at = args.indexOf('--workers');
  if (at === -1) return 1;
  const value = args[at + 1];
  if (value === undefined || value.startsWith('--')) return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--workers must be a whole number from 1 to 64, got '${value}'`);
  return n;
}

async function runServer(args: string[], config: Config): Promise<void> {
  if (cluster.isWorker) return runWorker(config);
  const workers = workerCount(args);
  if (workers > 1) {
    if (config.cluster.kind !== 'redis') throw new UsageError('--workers needs SWITCHBOARD_REDIS_URL: the workers join into one cluster over Redis');
    if (config.store.kind === 'memory') throw new UsageError('--workers needs a shared store: use SWITCHBOARD_STORE=sqlite (the default)');
    runSupervisor({ workers, config, logger: pino({ level: config.logLevel, base: { service: 'switchboard', role: 'primary' } }) });
    return;
  }
  const { createSwitchboard } = await import('./switchboard.js');
  const app = await createSwitchboard(config);
  const { logger } = app;
  const port = await app.start();
  if (config.devMode) {
    logger.warn(
      { mintToken: 'npm run token -- --user alice --tenant acme', demo: `http://localhost:${port}/` },
      'DEV MODE: no SWITCHBOARD_JWT_SECRET or SWITCHBOARD_JWKS_URL set; tokens are signed with a public development secret. Never expose this server.',
    );
  }
  if (!config.apiKey) {
    logger.warn({ apiKey: app.apiKey }, 'SWITCHBOARD_API_KEY is not set; the HTTP API uses this generated key until restart');
  }
  let signals = 0;
  const onSignal = (signal: string) => {
    signals += 1;
    if (signals > 1) process.exit(1);
    logger.info({ signal }, 'shutting down');
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown did not finish cleanly');
        process.exit(1);
      },
    );
  };
  // Background work must not bring the server down: a stray rejection is logged and service goes on.
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

/** A worker of `--workers`: a full server that takes its connections from the primary. */
async function runWorker(config: Config): Promise<void> {
  const { createSwitchboard } = await import('./switchboard.js');
  const app = await createSwitchboard(config);
  const { logger } = app;
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  // The primary turns SIGINT into SIGTERM for every worker; Ctrl-C reaches the whole group.
  process.on('SIGINT', () => undefined);
  process.once('SIGTERM', () => {
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown did not finish cleanly');
        process.exit(1);
      },
    );
  });
  await app.start({ worker: true });
  process.send?.(WORKER_READY);
}

/** `switchboard processor`: the message processor on its own, until SIGTERM or SIGINT. */
async function runProcessor(config: Config): Promise<void> {
  // Each command loads only what it runs (the processor has no Socket.IO, the token command no server).
  const { createProcessorApp } = await import('./processor-app.js');
  const app = await createProcessorApp(config);
  process.on('unhandledRejection', (err) => app.logger.error({ err }, 'unhandled rejection'));
  const stop = () => {
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        app.logger.error({ err }, 'processor did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  app.start();
}

async function runToken(args: string[], config: Config): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { user: { type: 'string' }, tenant: { type: 'string' }, device: { type: 'string' }, ttl: { type: 'string' } },
  });
  if (!values.user || !values.tenant) throw new Error(`--user and --tenant are required\n${USAGE}`);
  if (config.auth.jwksUrl) throw new Error('The server verifies tokens with SWITCHBOARD_JWKS_URL; mint tokens with your identity provider');
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0)) throw new Error('--ttl must be a positive whole number of seconds');
  const { mintToken } = await import('../adapters/jose/mint-token.js');
  const token = await mintToken({ secret: config.auth.secret ?? DEV_JWT_SECRET, user: values.user, tenant: values.tenant, device: values.device, ttlSeconds: ttl });
  process.stdout.write(`${token}\n`);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  switch (command) {
    case 'server':
      return runServer(rest, config);
    case 'processor':
      return runProcessor(config);
    case 'token':
      return runToken(rest, config);
    default:
      process.stderr.write(`${USAGE}\n`);
      process.exit(command === undefined || command === 'help' || command === '--help' ? 0 : 2);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});

#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { mintToken } from '../adapters/jose/mint-token.js';
import { ConfigError, DEV_JWT_SECRET, loadConfig, type Config } from './config.js';
import { createSwitchboard } from './switchboard.js';

const USAGE = `Usage:
  switchboard server                       start the server (configuration from the environment; see README)
  switchboard token --user ID --tenant ID [--device ID] [--ttl SECONDS]
                                           mint an HS256 access token with SWITCHBOARD_JWT_SECRET (or the dev secret)`;

async function runServer(config: Config): Promise<void> {
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

async function runToken(args: string[], config: Config): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { user: { type: 'string' }, tenant: { type: 'string' }, device: { type: 'string' }, ttl: { type: 'string' } },
  });
  if (!values.user || !values.tenant) throw new Error(`--user and --tenant are required\n${USAGE}`);
  if (config.auth.jwksUrl) throw new Error('The server verifies tokens with SWITCHBOARD_JWKS_URL; mint tokens with your identity provider');
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0)) throw new Error('--ttl must be a positive whole number of seconds');
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
      return runServer(config);
    case 'token':
      return runToken(rest, config);
    default:
      process.stderr.write(`${USAGE}\n`);
      process.exit(command === undefined || command === 'help' || command === '--help' ? 0 : 2);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

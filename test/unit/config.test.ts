import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { ConfigError, DEV_JWT_SECRET, loadConfig } from '../../src/app/config.js';
import { createFastJwtTokenVerifier } from '../../src/adapters/fast-jwt/fast-jwt-token-verifier.js';

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/app/cli.ts', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('configuration', () => {
  it('has working defaults and dev mode without a secret', () => {
    const c = loadConfig({});
    assert.equal(c.port, 3000);
    assert.equal(c.devMode, true);
    assert.equal(c.auth.secret, DEV_JWT_SECRET);
    assert.deepEqual(c.store, { kind: 'sqlite' });
    assert.deepEqual(c.log, { kind: 'embedded' });
    assert.equal(c.processor, 'inline');
    assert.deepEqual(c.delivery, { ackTimeoutMs: 2000, maxRetries: 5, inbox: { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 10 * 1024 * 1024 } });
    assert.deepEqual(c.socket.transports, ['websocket', 'polling']);
    assert.equal(c.limits.rateLimits.message.perSecond, 20);
  });

  it('leaves dev mode when a secret or JWKS URL is set', () => {
    assert.equal(loadConfig({ SWITCHBOARD_JWT_SECRET: 'x'.repeat(32) }).devMode, false);
    const jwks = loadConfig({ SWITCHBOARD_JWKS_URL: 'https://id.example/jwks.json' });
    assert.equal(jwks.devMode, false);
    assert.equal(jwks.auth.secret, undefined);
  });

  it('names every invalid variable and the value it got', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', SWITCHBOARD_PING_INTERVAL_MS: '-5', SWITCHBOARD_TRANSPORTS: 'websocket,carrier-pigeon', SWITCHBOARD_PER_MESSAGE_DEFLATE: 'maybe', SWITCHBOARD_RATE_LIMITS: 'message=fast' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const text = err.problems.join('\n');
        for (const name of ['PORT', 'SWITCHBOARD_PING_INTERVAL_MS', 'SWITCHBOARD_TRANSPORTS', 'SWITCHBOARD_PER_MESSAGE_DEFLATE', 'SWITCHBOARD_RATE_LIMITS']) assert.match(text, new RegExp(name));
        assert.match(text, /got 'eighty'/);
        return true;
      },
    );
    assert.throws(() => loadConfig({ SWITCHBOARD_JWT_SECRET: 'short' }), /at least 16/);
    assert.throws(() => loadConfig({ SWITCHBOARD_JWT_SECRET: 'x'.repeat(32), SWITCHBOARD_JWKS_URL: 'https://id.example/jwks' }), /not both/);
  });

  it('joins a Redis cluster only when a Redis URL is given, and keeps liveness and drain timings consistent', () => {
    assert.deepEqual(loadConfig({}).cluster, { kind: 'memory' });
    assert.deepEqual(loadConfig({ SWITCHBOARD_REDIS_URL: 'redis://a:7000, redis://b:7001', SWITCHBOARD_REDIS_MODE: 'cluster' }).cluster, { kind: 'redis', url: 'redis://a:7000, redis://b:7001', mode: 'cluster', sentinelName: 'mymaster' });
    assert.throws(() => loadConfig({ SWITCHBOARD_REDIS_URL: 'http://a:6379' }), /SWITCHBOARD_REDIS_URL/);
    assert.throws(() => loadConfig({ SWITCHBOARD_HEARTBEAT_MS: '5000', SWITCHBOARD_SERVER_TTL_MS: '6000' }), /SWITCHBOARD_SERVER_TTL_MS.*twice/);
    assert.throws(() => loadConfig({ SWITCHBOARD_DRAIN_WINDOW_MS: '10000', SWITCHBOARD_SHUTDOWN_TIMEOUT_MS: '8000' }), /SWITCHBOARD_DRAIN_WINDOW_MS.*shorter/);
    assert.equal(loadConfig({}).drainWindowMs, 5000);
  });

  it('picks the store and the durable log, and asks for the URL each one needs', () => {
    assert.deepEqual(loadConfig({ SWITCHBOARD_STORE: 'postgres', SWITCHBOARD_POSTGRES_URL: 'postgres://u@db:5432/chat' }).store, { kind: 'postgres', url: 'postgres://u@db:5432/chat' });
    assert.deepEqual(loadConfig({ SWITCHBOARD_STORE: 'mongodb', SWITCHBOARD_MONGODB_URL: 'mongodb://m:27017/chat' }).store, { kind: 'mongodb', url: 'mongodb://m:27017/chat' });
    const kafka = loadConfig({ SWITCHBOARD_LOG: 'kafka', SWITCHBOARD_KAFKA_BROKERS: 'k1:9092, k2:9092' });
    assert.deepEqual(kafka.log, { kind: 'kafka', brokers: ['k1:9092', 'k2:9092'] });
    assert.equal(kafka.processor, 'external', 'a shared log is consumed by `switchboard processor`');
    assert.equal(loadConfig({ SWITCHBOARD_LOG: 'kafka', SWITCHBOARD_KAFKA_BROKERS: 'k1:9092', SWITCHBOARD_PROCESSOR: 'inline' }).processor, 'inline');
    assert.throws(() => loadConfig({ SWITCHBOARD_STORE: 'postgres' }), /SWITCHBOARD_POSTGRES_URL.*is required when SWITCHBOARD_STORE=postgres/);
    assert.throws(() => loadConfig({ SWITCHBOARD_STORE: 'mongodb' }), /SWITCHBOARD_MONGODB_URL.*is required/);
    assert.throws(() => loadConfig({ SWITCHBOARD_LOG: 'kafka' }), /SWITCHBOARD_KAFKA_BROKERS.*is required/);
    assert.throws(() => loadConfig({ SWITCHBOARD_LOG: 'redis' }), /SWITCHBOARD_REDIS_URL.*is required/);
    assert.throws(() => loadConfig({ SWITCHBOARD_LOG: 'kafka', SWITCHBOARD_KAFKA_BROKERS: 'no-port' }), /SWITCHBOARD_KAFKA_BROKERS/);
    assert.throws(() => loadConfig({ SWITCHBOARD_STORE: 'cassandra' }), /SWITCHBOARD_STORE/);
    assert.throws(() => loadConfig({ SWITCHBOARD_STORE: 'memory', SWITCHBOARD_LOG: 'redis', SWITCHBOARD_REDIS_URL: 'redis://r:6379' }), /SWITCHBOARD_LOG.*must be embedded with SWITCHBOARD_STORE=memory/);
    assert.throws(() => loadConfig({ SWITCHBOARD_ACK_TIMEOUT_MS: '10' }), /SWITCHBOARD_ACK_TIMEOUT_MS/);
  });

  it('parses rate limits per class with a burst of twice the rate', () => {
    const c = loadConfig({ SWITCHBOARD_RATE_LIMITS: 'message=50, typing=2' });
    assert.deepEqual(c.limits.rateLimits.message, { perSecond: 50, burst: 100 });
    assert.deepEqual(c.limits.rateLimits.typing, { perSecond: 2, burst: 4 });
    assert.deepEqual(c.limits.rateLimits.room, { perSecond: 10, burst: 20 });
  });
});

describe('command line', () => {
  it('refuses to start on a bad value, with a clear message and exit code 2', async () => {
    const r = await run(['server'], { PORT: 'nope' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Invalid configuration/);
    assert.match(r.stderr, /PORT/);
  });

  it('mints a token the server verifies', async () => {
    const secret = 's'.repeat(32);
    const r = await run(['token', '--user', 'alice', '--tenant', 'acme', '--device', 'cli'], { SWITCHBOARD_JWT_SECRET: secret });
    assert.equal(r.code, 0, r.stderr);
    const claims = await createFastJwtTokenVerifier({ secret }).verify(r.stdout.trim());
    assert.deepEqual({ t: claims.tenantId, u: claims.userId, d: claims.deviceId }, { t: 'acme', u: 'alice', d: 'cli' });
    assert.ok(claims.expiresAt! > Date.now());
  });

  it('requires --user and --tenant for a token', async () => {
    const r = await run(['token', '--user', 'alice'], {});
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--user and --tenant are required/);
  });
});

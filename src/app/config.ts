import { z } from 'zod';

/** The development secret used when SWITCHBOARD_JWT_SECRET is not set. Never use it in production. */
export const DEV_JWT_SECRET = 'switchboard-dev-secret-not-for-production';

const int = (min: number) => z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(min, `must be at least ${min}`);
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { error: 'must be true or false' }).transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const url = z.string().url('must be a URL');

const RATE_CLASSES = ['message', 'room', 'typing', 'presence', 'query'] as const;
const rateLimits = z
  .string()
  .transform((s, ctx) => {
    const out: Record<string, { perSecond: number; burst: number }> = {};
    for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
      const m = /^([a-z]+)=(\d+(?:\.\d+)?)$/.exec(part);
      if (!m || !(RATE_CLASSES as readonly string[]).includes(m[1]!) || Number(m[2]) <= 0) {
        ctx.addIssue({ code: 'custom', message: `expected class=perSecond with class one of ${RATE_CLASSES.join(', ')} (got '${part}')` });
        return z.NEVER;
      }
      out[m[1]!] = { perSecond: Number(m[2]), burst: Math.max(1, Math.ceil(Number(m[2]) * 2)) };
    }
    return out;
  });

/**
 * Every setting, read from the environment. Each entry documents its default; README's
 * configuration table mirrors this list.
 */
const EnvSchema = z.object({
  PORT: int(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  SWITCHBOARD_LISTEN_BACKLOG: int(1).default(4096),
  SWITCHBOARD_SERVER_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 letters, digits, _ . -').optional(),
  SWITCHBOARD_JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  SWITCHBOARD_JWKS_URL: url.optional(),
  SWITCHBOARD_JWT_ISSUER: z.string().min(1).optional(),
  SWITCHBOARD_JWT_AUDIENCE: z.string().min(1).optional(),
  SWITCHBOARD_API_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  SWITCHBOARD_DATA_DIR: z.string().min(1).default('./data'),
  SWITCHBOARD_STORE: z.enum(['sqlite', 'postgres', 'mongodb', 'memory']).default('sqlite'),
  SWITCHBOARD_POSTGRES_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be postgres://user@host:port/db').optional(),
  SWITCHBOARD_MONGODB_URL: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be mongodb://host:port/db').optional(),
  SWITCHBOARD_LOG: z.enum(['embedded', 'redis', 'kafka']).default('embedded'),
  SWITCHBOARD_KAFKA_BROKERS: z.string().regex(/^[^,\s]+:\d+(,\s*[^,\s]+:\d+)*$/, 'must be host:port[,host:port…]').optional(),
  SWITCHBOARD_PROCESSOR: z.enum(['inline', 'external']).optional(),
  SWITCHBOARD_ACK_TIMEOUT_MS: int(100).default(2000),
  SWITCHBOARD_DELIVERY_RETRIES: int(0).default(5),
  SWITCHBOARD_INBOX_MAX_AGE_MS: int(1000).default(7 * 24 * 3600 * 1000),
  SWITCHBOARD_INBOX_MAX_BYTES: int(1024).default(10 * 1024 * 1024),
  SWITCHBOARD_REDIS_URL: z.string().regex(/^rediss?:\/\/[^,\s]+(,\s*rediss?:\/\/[^,\s]+)*$/, 'must be redis://host:port (comma-separated for cluster seeds)').optional(),
  SWITCHBOARD_REDIS_MODE: z.enum(['single', 'cluster', 'sentinel']).default('single'),
  SWITCHBOARD_REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  SWITCHBOARD_HEARTBEAT_MS: int(100).default(5000),
  SWITCHBOARD_SERVER_TTL_MS: int(300).default(15_000),
  SWITCHBOARD_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SWITCHBOARD_TRANSPORTS: z
    .string()
    .transform((s) => s.split(',').map((t) => t.trim()))
    .pipe(z.array(z.enum(['websocket', 'polling'])).min(1))
    .default(['websocket', 'polling']),
  SWITCHBOARD_PING_INTERVAL_MS: int(1000).default(25_000),
  SWITCHBOARD_PING_TIMEOUT_MS: int(1000).default(20_000),
  SWITCHBOARD_MAX_HTTP_BUFFER_BYTES: int(1024).default(1_048_576),
  SWITCHBOARD_MAX_EVENT_BYTES: int(256).default(65_536),
  SWITCHBOARD_PER_MESSAGE_DEFLATE: bool.default(false),
  SWITCHBOARD_BINARY: bool.default(true),
  SWITCHBOARD_MAX_ATTACHMENT_BYTES: int(1).default(512 * 1024),
  SWITCHBOARD_CORS_ORIGIN: z.string().min(1).default('*'),
  SWITCHBOARD_TRUST_PROXY: bool.default(false),
  SWITCHBOARD_MAX_CONNECTIONS_PER_USER: int(1).default(20),
  SWITCHBOARD_RATE_LIMITS: rateLimits.default({}),
  SWITCHBOARD_MAX_REJECTIONS: int(1).default(100),
  SWITCHBOARD_MAX_BUFFERED_BYTES: int(0).default(4 * 1024 * 1024),
  SWITCHBOARD_PRESENCE_GRACE_MS: int(0).default(5000),
  SWITCHBOARD_TYPING_THROTTLE_MS: int(0).default(3000),
  SWITCHBOARD_TYPING_TIMEOUT_MS: int(500).default(6000),
  SWITCHBOARD_TOKEN_WARNING_MS: int(0).default(60_000),
  SWITCHBOARD_SHUTDOWN_TIMEOUT_MS: int(100).default(10_000),
  SWITCHBOARD_DRAIN_WINDOW_MS: int(0).default(5000),
}).refine((e) => e.SWITCHBOARD_DRAIN_WINDOW_MS < e.SWITCHBOARD_SHUTDOWN_TIMEOUT_MS, {
  message: 'must be shorter than SWITCHBOARD_SHUTDOWN_TIMEOUT_MS',
  path: ['SWITCHBOARD_DRAIN_WINDOW_MS'],
}).refine((e) => e.SWITCHBOARD_SERVER_TTL_MS >= 2 * e.SWITCHBOARD_HEARTBEAT_MS, {
  message: 'must be at least twice SWITCHBOARD_HEARTBEAT_MS',
  path: ['SWITCHBOARD_SERVER_TTL_MS'],
}).refine((e) => e.SWITCHBOARD_STORE !== 'postgres' || e.SWITCHBOARD_POSTGRES_URL, {
  message: 'is required when SWITCHBOARD_STORE=postgres',
  path: ['SWITCHBOARD_POSTGRES_URL'],
}).refine((e) => e.SWITCHBOARD_STORE !== 'mongodb' || e.SWITCHBOARD_MONGODB_URL, {
  message: 'is required when SWITCHBOARD_STORE=mongodb',
  path: ['SWITCHBOARD_MONGODB_URL'],
}).refine((e) => e.SWITCHBOARD_LOG !== 'kafka' || e.SWITCHBOARD_KAFKA_BROKERS, {
  message: 'is required when SWITCHBOARD_LOG=kafka',
  path: ['SWITCHBOARD_KAFKA_BROKERS'],
}).refine((e) => e.SWITCHBOARD_LOG !== 'redis' || e.SWITCHBOARD_REDIS_URL, {
  message: 'is required when SWITCHBOARD_LOG=redis',
  path: ['SWITCHBOARD_REDIS_URL'],
}).refine((e) => e.SWITCHBOARD_STORE !== 'memory' || e.SWITCHBOARD_LOG === 'embedded', {
  message: 'must be embedded with SWITCHBOARD_STORE=memory (a memory store lives in one process; a shared log needs a shared store)',
  path: ['SWITCHBOARD_LOG'],
}).refine((e) => !(e.SWITCHBOARD_JWT_SECRET && e.SWITCHBOARD_JWKS_URL), {
  message: 'set SWITCHBOARD_JWT_SECRET or SWITCHBOARD_JWKS_URL, not both',
  path: ['SWITCHBOARD_JWT_SECRET'],
});

export type Env = z.output<typeof EnvSchema>;

export interface Config {
  port: number;
  host: string;
  /** Connections the kernel queues before the server accepts them (capped by `net.core.somaxconn`). */
  listenBacklog: number;
  serverId: string | undefined;
  /** True when no JWT secret or JWKS URL is set: a well-known dev secret is used. */
  devMode: boolean;
  auth: { secret?: string; jwksUrl?: string; issuer?: string; audience?: string };
  /** Undefined: a random key is generated at start and logged. */
  apiKey: string | undefined;
  dataDir: string;
  /** `sqlite`: durable file in dataDir. `postgres`, `mongodb`: that server. `memory`: nothing survives a restart. */
  store: { kind: 'sqlite' | 'memory' } | { kind: 'postgres'; url: string } | { kind: 'mongodb'; url: string };
  /**
   * The durable log of accepted messages: `embedded` (SQLite in dataDir), `redis` (Redis
   * Streams on the cluster's Redis) or `kafka`. `processor`: `inline` runs the message
   * processor inside the server (default for `embedded`); `external` leaves it to
   * `switchboard processor` (default otherwise).
   */
  log: { kind: 'embedded' } | { kind: 'redis' } | { kind: 'kafka'; brokers: string[] };
  processor: 'inline' | 'external';
  /** Acknowledged delivery (docs/protocol.md §12). */
  delivery: { ackTimeoutMs: number; maxRetries: number; inbox: { maxAgeMs: number; maxBytes: number } };
  /** `memory`: one process. `redis`: servers sharing a Redis form one cluster. */
  cluster: { kind: 'memory' } | { kind: 'redis'; url: string; mode: 'single' | 'cluster' | 'sentinel'; sentinelName: string };
  /** Heartbeat period and the silence after which a server counts as dead and is reaped. */
  liveness: { heartbeatMs: number; serverTtlMs: number };
  logLevel: Env['SWITCHBOARD_LOG_LEVEL'];
  socket: {
    transports: ('websocket' | 'polling')[];
    pingIntervalMs: number;
    pingTimeoutMs: number;
    maxHttpBufferBytes: number;
    perMessageDeflate: boolean;
    corsOrigin: string;
    /** Take the client address from X-Forwarded-For (behind a load balancer). */
    trustProxy: boolean;
  };
  limits: {
    maxEventBytes: number;
    allowBinary: boolean;
    maxAttachmentBytes: number;
    maxConnectionsPerUser: number;
    rateLimits: Record<(typeof RATE_CLASSES)[number], { perSecond: number; burst: number }>;
    maxRejections: number;
    /** Outgoing bytes a connection may leave unread before it is closed as a slow consumer (0: no limit). */
    maxBufferedBytes: number;
  };
  presenceGraceMs: number;
  typing: { throttleMs: number; timeoutMs: number };
  tokenWarningMs: number;
  shutdownTimeoutMs: number;
  /** On shutdown, connections are closed in jittered batches spread over this window. */
  drainWindowMs: number;
}

const DEFAULT_RATES: Config['limits']['rateLimits'] = {
  message: { perSecond: 20, burst: 40 },
  room: { perSecond: 10, burst: 20 },
  typing: { perSecond: 5, burst: 10 },
  presence: { perSecond: 5, burst: 20 },
  query: { perSecond: 20, burst: 40 },
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the configuration; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const r = EnvSchema.safeParse(present);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => {
      const name = String(i.path[0] ?? '');
      const got = name in present ? ` (got '${present[name]}')` : '';
      return `${name}: ${i.message}${got}`;
    }));
  }
  const e = r.data;
  return {
    port: e.PORT,
    host: e.HOST,
    listenBacklog: e.SWITCHBOARD_LISTEN_BACKLOG,
    serverId: e.SWITCHBOARD_SERVER_ID,
    devMode: !e.SWITCHBOARD_JWT_SECRET && !e.SWITCHBOARD_JWKS_URL,
    auth: {
      secret: e.SWITCHBOARD_JWKS_URL ? undefined : (e.SWITCHBOARD_JWT_SECRET ?? DEV_JWT_SECRET),
      jwksUrl: e.SWITCHBOARD_JWKS_URL,
      issuer: e.SWITCHBOARD_JWT_ISSUER,
      audience: e.SWITCHBOARD_JWT_AUDIENCE,
    },
    apiKey: e.SWITCHBOARD_API_KEY,
    dataDir: e.SWITCHBOARD_DATA_DIR,
    store: storeOf(e),
    log: e.SWITCHBOARD_LOG === 'kafka' ? { kind: 'kafka', brokers: e.SWITCHBOARD_KAFKA_BROKERS!.split(',').map((b) => b.trim()) } : { kind: e.SWITCHBOARD_LOG },
    processor: e.SWITCHBOARD_PROCESSOR ?? (e.SWITCHBOARD_LOG === 'embedded' ? 'inline' : 'external'),
    delivery: {
      ackTimeoutMs: e.SWITCHBOARD_ACK_TIMEOUT_MS,
      maxRetries: e.SWITCHBOARD_DELIVERY_RETRIES,
      inbox: { maxAgeMs: e.SWITCHBOARD_INBOX_MAX_AGE_MS, maxBytes: e.SWITCHBOARD_INBOX_MAX_BYTES },
    },
    cluster: e.SWITCHBOARD_REDIS_URL ? { kind: 'redis', url: e.SWITCHBOARD_REDIS_URL, mode: e.SWITCHBOARD_REDIS_MODE, sentinelName: e.SWITCHBOARD_REDIS_SENTINEL_NAME } : { kind: 'memory' },
    liveness: { heartbeatMs: e.SWITCHBOARD_HEARTBEAT_MS, serverTtlMs: e.SWITCHBOARD_SERVER_TTL_MS },
    logLevel: e.SWITCHBOARD_LOG_LEVEL,
    socket: {
      transports: e.SWITCHBOARD_TRANSPORTS,
      pingIntervalMs: e.SWITCHBOARD_PING_INTERVAL_MS,
      pingTimeoutMs: e.SWITCHBOARD_PING_TIMEOUT_MS,
      maxHttpBufferBytes: e.SWITCHBOARD_MAX_HTTP_BUFFER_BYTES,
      perMessageDeflate: e.SWITCHBOARD_PER_MESSAGE_DEFLATE,
      corsOrigin: e.SWITCHBOARD_CORS_ORIGIN,
      trustProxy: e.SWITCHBOARD_TRUST_PROXY,
    },
    limits: {
      maxEventBytes: e.SWITCHBOARD_MAX_EVENT_BYTES,
      allowBinary: e.SWITCHBOARD_BINARY,
      maxAttachmentBytes: e.SWITCHBOARD_MAX_ATTACHMENT_BYTES,
      maxConnectionsPerUser: e.SWITCHBOARD_MAX_CONNECTIONS_PER_USER,
      rateLimits: { ...DEFAULT_RATES, ...e.SWITCHBOARD_RATE_LIMITS },
      maxRejections: e.SWITCHBOARD_MAX_REJECTIONS,
      maxBufferedBytes: e.SWITCHBOARD_MAX_BUFFERED_BYTES,
    },
    presenceGraceMs: e.SWITCHBOARD_PRESENCE_GRACE_MS,
    typing: { throttleMs: e.SWITCHBOARD_TYPING_THROTTLE_MS, timeoutMs: e.SWITCHBOARD_TYPING_TIMEOUT_MS },
    tokenWarningMs: e.SWITCHBOARD_TOKEN_WARNING_MS,
    shutdownTimeoutMs: e.SWITCHBOARD_SHUTDOWN_TIMEOUT_MS,
    drainWindowMs: e.SWITCHBOARD_DRAIN_WINDOW_MS,
  };
}

function storeOf(e: Env): Config['store'] {
  switch (e.SWITCHBOARD_STORE) {
    case 'postgres':
      return { kind: 'postgres', url: e.SWITCHBOARD_POSTGRES_URL! };
    case 'mongodb':
      return { kind: 'mongodb', url: e.SWITCHBOARD_MONGODB_URL! };
    default:
      return { kind: e.SWITCHBOARD_STORE };
  }
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setupWorker } from '@socket.io/sticky';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { pino, type Logger as PinoLogger } from 'pino';
import { SwitchboardError } from '../domain/errors.js';
import { asServerId, asSocketId } from '../domain/ids.js';
import { ServerApi } from '../core/api/server-api.js';
import { TrafficStats } from '../core/api/traffic-stats.js';
import { ConversationService } from '../core/conversations/conversation-service.js';
import { MembershipCache } from '../core/conversations/membership-cache.js';
import { MessageService } from '../core/messages/message-service.js';
import { PresenceService } from '../core/presence/presence-service.js';
import { EnvelopeFactory } from '../core/routing/envelopes.js';
import { Router } from '../core/routing/router.js';
import { SessionService } from '../core/sessions/session-service.js';
import { TypingService } from '../core/typing/typing-service.js';
import { ServerLiveness } from '../core/cluster/server-liveness.js';
import { LocalConnections } from '../core/routing/local-connections.js';
import { planDrain, runDrain } from '../core/sessions/drain.js';
import { DeliveryCounters } from '../core/delivery/delivery-counters.js';
import { DeviceStreams } from '../core/delivery/device-streams.js';
import { InboxRetentionSweeper } from '../core/delivery/inbox-retention.js';
import { MessageProcessor, PROCESSOR_DEFAULTS } from '../core/processor/message-processor.js';
import { createFastJwtTokenVerifier } from '../adapters/fast-jwt/fast-jwt-token-verifier.js';
import { systemClock } from '../adapters/system/system-clock.js';
import { createUlidGenerator } from '../adapters/system/ulid-generator.js';
import { registerDemoRoutes } from '../transport/http/demo-routes.js';
import { registerHttpApi, type HealthReport } from '../transport/http/http-api.js';
import { createEventRegistry } from '../transport/socketio/event-registry.js';
import { attachDispatcher } from '../transport/socketio/event-dispatcher.js';
import { SlowConsumerGuard } from '../transport/socketio/slow-consumers.js';
import { SocketIoDelivery } from '../transport/socketio/socket-io-delivery.js';
import { createSocketServer, handshakeMiddleware } from '../transport/socketio/socket-server.js';
import { createClusterBackend } from './cluster-backend.js';
import { createDeliveryBackend } from './delivery-backend.js';
import type { Config } from './config.js';

export interface Switchboard {
  /**
   * Listens on the configured host and port and resolves with the bound port; as a worker of
   * `--workers` it listens on nothing and takes the connections its primary hands over.
   */
  start(options?: { worker?: boolean }): Promise<number>;
  /** Graceful stop: refuse new connections, tell clients to reconnect elsewhere, flush, close — under the shutdown timeout. */
  stop(): Promise<void>;
  readonly serverId: string;
  readonly apiKey: string;
  readonly logger: PinoLogger;
}

/** Composes a Switchboard server from configuration (connecting to Redis when configured). */
export async function createSwitchboard(config: Config, options: { logger?: PinoLogger } = {}): Promise<Switchboard> {
  const logger = options.logger ?? pino({ level: config.logLevel, base: { service: 'switchboard' } });
  const serverId = asServerId(config.serverId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`);
  const apiKey = config.apiKey ?? randomBytes(24).toString('base64url');
  const clock = systemClock;
  const ids = createUlidGenerator();
  const envelopes = new EnvelopeFactory(ids, clock);
  const stats = new TrafficStats(clock);
  const cluster = await createClusterBackend(config, logger);
  const stores = await createDeliveryBackend(config, cluster.redis, logger);
  const local = new LocalConnections();
  const { jwksUrl, secret, issuer, audience } = config.auth;
  // jose (JWKS, and minting in dev mode) is loaded only when used.
  const verifier = jwksUrl
    ? (await import('../adapters/jose/jose-token-verifier.js')).createJoseTokenVerifier({ jwksUrl, issuer, audience })
    : createFastJwtTokenVerifier({ secret: secret ?? '', issuer, audience });

  const http = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => ids.next(),
    bodyLimit: config.socket.maxHttpBufferBytes,
    trustProxy: config.socket.trustProxy,
  });
  const io = createSocketServer(http.server, config.socket);
  cluster.attach(io);
  const membership = new MembershipCache(stores.conversations, 10_000);
  const delivery = new SocketIoDelivery(
    io,
    envelopes,
    () => cluster.topicsReady(),
    (t, users) => local.connectionsOf(t, users).map((c) => c.socketId),
    (change) => membership.invalidate(change.tenantId, change.conversationId),
    logger,
    config.cluster.kind === 'redis',
  );
  delivery.acceptRemoteMembership();
  const counters = new DeliveryCounters();
  const streams = new DeviceStreams(stores.inbox, delivery, counters, logger, {
    ackTimeoutMs: config.delivery.ackTimeoutMs,
    maxRetries: config.delivery.maxRetries,
    readBatch: 200,
  });
  const router = new Router(serverId, local, cluster.registry, delivery, cluster.bus, logger, stats, { inbox: stores.inbox, streams, counters, clock });
  const retention = new InboxRetentionSweeper(stores.inbox, counters, clock, logger, { everyMs: 60_000, inboxesPerRound: 1000 });
  const slowConsumers = new SlowConsumerGuard(() => io.of('/').sockets.values(), { maxBufferedBytes: config.limits.maxBufferedBytes, everyMs: 1000 }, () => {
    counters.slowConsumers += 1;
  }, logger);
  // The embedded journal stores messages as it accepts them: no processor to run.
  const processor = config.processor === 'inline' && !stores.sequencer.storesOnAccept
    ? new MessageProcessor(stores.log, stores.messages, stores.sequencer, logger, { ...PROCESSOR_DEFAULTS, consumer: serverId })
    : null;
  const conversations = new ConversationService(stores.conversations, membership, stores.messages, stores.sequencer, router, envelopes, ids, clock);
  const messages = new MessageService(stores.messages, stores.sequencer, stores.log, conversations, router, envelopes, ids, clock, {
    allowBinary: config.limits.allowBinary,
    maxAttachmentBytes: config.limits.maxAttachmentBytes,
  });
  const typing = new TypingService(conversations, router, envelopes, clock, config.typing);
  messages.onSent((by, conversationId) => typing.messageSent(by, conversationId));
  const presence = new PresenceService(cluster.presence, router, delivery, envelopes, clock, logger, {
    graceMs: config.presenceGraceMs,
    maxSubscriptionsPerSocket: 1000,
  });
  const sessions = new SessionService(serverId, cluster.registry, local, presence, delivery, envelopes, clock, logger, {
    maxConnectionsPerUser: config.limits.maxConnectionsPerUser,
    expiryWarningMs: config.tokenWarningMs,
    topicsOf: (tenantId, userId) => conversations.topicsOf(tenantId, userId),
  });
  const api = new ServerApi(router, envelopes, conversations, messages, presence, sessions, stats, counters, {
    memoryUsage: () => {
      const m = process.memoryUsage();
      return { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external };
    },
    roomCount: () => io.of('/').adapter.rooms.size - io.of('/').sockets.size,
    processor: () => processor && { ...processor.counts },
  }, clock);
  const liveness = new ServerLiveness(serverId, cluster.directory, cluster.registry, presence, clock, logger, config.liveness);
  /** Registers this server's sessions again, then sends tracked devices what they missed meanwhile. */
  const rejoin = (why: string) =>
    sessions
      .reannounce()
      .then(async ({ registered, removed }) => {
        const caughtUp = await streams.catchUp();
        logger.info({ sessions: registered, staleRemoved: removed, caughtUp }, `${why}; local sessions registered again`);
      })
      .catch((err: unknown) => logger.warn({ err }, 'could not register local sessions again'));
  cluster.onReconnect(() => {
    // Changes made on other servers while Redis was away were not announced here.
    membership.clear();
    void rejoin('cluster backend is back');
  });
  liveness.onRelisted(() => void rejoin('this server was taken for dead'));
  const core = { conversations, messages, typing, presence, sessions, streams, verifier };
  const eventRegistry = createEventRegistry({ typingThrottleMs: config.typing.throttleMs });

  let accepting = false;
  /** Session closes under way, awaited by a drain so the registry is clean before exit. */
  const closing = new Set<Promise<void>>();
  io.use(handshakeMiddleware({
    serverId,
    verify: (t) => verifier.verify(t),
    admit: (t, u) => sessions.admit(t, u),
    accepting: () => accepting,
    trustProxy: config.socket.trustProxy,
    clock,
    logger,
  }));
  const dispatcherDeps = {
    registry: eventRegistry, core, delivery, envelopes, stats, clock, logger,
    options: { maxEventBytes: config.limits.maxEventBytes, rateLimits: config.limits.rateLimits, maxRejections: config.limits.maxRejections },
  };
  io.on('connection', (socket) => {
    attachDispatcher(socket, dispatcherDeps);
    const info = socket.data.session;
    socket.on('disconnect', () => {
      streams.untrack(info.socketId);
      const done = sessions.close(info.socketId)
        .catch((err: unknown) => logger.warn({ err, socketId: socket.id }, 'session close failed'))
        .finally(() => closing.delete(done));
      closing.add(done);
    });
    const opened = async () => {
      // Tracked before it is registered, so live inbox entries wait for the replay.
      if (info.inbox) await streams.track(info, info.socketId, info.inbox.after);
      // Gone while its inbox was read: its disconnect found nothing to close, so nothing opens.
      if (socket.disconnected) {
        streams.untrack(info.socketId);
        return;
      }
      await sessions.open(info);
      socket.emit('session:ready', envelopes.create(info.tenantId, 'event', 'session:ready', {
        socketId: info.socketId,
        serverId,
        tenantId: info.tenantId,
        userId: info.userId,
        deviceId: info.deviceId,
        expiresAt: info.expiresAt,
        limits: { maxEventBytes: config.limits.maxEventBytes, maxAttachmentBytes: config.limits.allowBinary ? config.limits.maxAttachmentBytes : 0 },
      }));
      const synced = info.inbox ? await streams.replay(info.socketId) : null;
      if (synced) socket.emit('inbox:synced', envelopes.create(info.tenantId, 'event', 'inbox:synced', synced));
    };
    opened().catch((err: unknown) => {
      logger.error({ err, socketId: socket.id }, 'session open failed');
      socket.disconnect(true);
    });
  });

  const health = (): HealthReport => {
    const clusterUp = cluster.healthy();
    return {
      live: true,
      ready: accepting && clusterUp,
      checks: { socket: accepting ? 'ok' : 'draining', store: 'ok', cluster: clusterUp ? 'ok' : 'down' },
    };
  };
  registerHttpApi(http, { api, apiKey, health, clock });
  registerDemoRoutes(http, {
    pagePath: new URL('../../public/index.html', import.meta.url),
    mintToken: config.devMode && config.auth.secret
      ? async (c) => (await import('../adapters/jose/mint-token.js')).mintToken({ secret: config.auth.secret!, user: c.user, tenant: c.tenant, device: c.device })
      : undefined,
  });

  let stopping: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    accepting = false;
    const all = [...io.of('/').sockets.keys()].map(asSocketId);
    logger.info({ connections: all.length, windowMs: config.drainWindowMs }, 'draining');
    await runDrain(planDrain(all, config.drainWindowMs), (batch) => delivery.disconnect(batch, 'SERVER_SHUTDOWN'));
    await Promise.all(closing);
    // Not io.close(): it closes the adapter without waiting, racing the Redis shutdown below.
    io.engine.close();
    await io.of('/').adapter.close();
    await presence.flush();
    typing.close();
    streams.close();
    retention.stop();
    slowConsumers.stop();
    await processor?.stop();
    await liveness.stop();
    await cluster.close();
    await stores.close();
  };

  return {
    serverId,
    apiKey,
    logger,
    async start({ worker = false } = {}) {
      await router.start();
      await liveness.start();
      retention.start();
      slowConsumers.start();
      processor?.start();
      if (worker) {
        await http.ready();
        setupWorker(io);
        accepting = true;
        logger.info({ serverId, store: config.store.kind, log: config.log.kind }, 'worker ready');
        return config.port;
      }
      await http.listen({ port: config.port, host: config.host, backlog: config.listenBacklog });
      accepting = true;
      const address = http.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      logger.info({ port, serverId, store: config.store.kind, log: config.log.kind, processor: config.processor }, 'switchboard listening');
      return port;
    },
    stop() {
      stopping ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new SwitchboardError('UNAVAILABLE', 'shutdown timed out')), config.shutdownTimeoutMs);
        });
        try {
          await Promise.race([shutdown(), deadline]);
        } finally {
          clearTimeout(timer);
          await http.close().catch(() => undefined);
        }
      })();
      return stopping;
    },
  };
}

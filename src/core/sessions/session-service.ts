import { SwitchboardError } from '../../domain/errors.js';
import type { ServerId, SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { Principal } from '../../domain/model.js';
import type { ConnectionRegistry, SocketConnection } from '../../ports/connection-registry.js';
import type { LocalDelivery } from '../../ports/local-delivery.js';
import type { Logger } from '../../ports/logger.js';
import type { Clock } from '../../ports/system.js';
import type { TokenClaims } from '../../ports/token-verifier.js';
import type { PresenceService } from '../presence/presence-service.js';
import type { EnvelopeFactory } from '../routing/envelopes.js';
import type { LocalConnections } from '../routing/local-connections.js';
import { tenantTopic } from '../routing/topics.js';
import { Deadlines } from './deadlines.js';

/** What the server keeps about each connection (seed 002 `UserConnection`). */
export interface SessionInfo extends Principal {
  socketId: SocketId;
  userAgent: string;
  ip: string;
  transport: string;
  connectedAt: string;
  expiresAt: number | null;
  /** Acknowledged delivery asked for in the handshake (`auth.inbox`), or null. */
  inbox: { after?: number } | null;
}

export interface SessionOptions {
  /** Connections one user may hold across all devices. */
  maxConnectionsPerUser: number;
  /** How long before token expiry the client is sent `auth:expiring`. */
  expiryWarningMs: number;
  /** Topics a user's sockets join on connect besides their own (e.g. their broadcast channels). */
  topicsOf(tenantId: TenantId, userId: UserId): Promise<string[]>;
}

interface Session {
  info: SessionInfo;
  /** Its entry in the local index and the registry, made once. */
  connection: SocketConnection;
  /** `auth:expiring` was sent for the current token. */
  warned: boolean;
}

/** Connection lifecycle: registration, tenant topic, presence, token expiry and refresh. */
export class SessionService {
  private readonly sessions = new Map<SocketId, Session>();
  /** Each session's next expiry step: the `auth:expiring` warning, then the expiry. */
  private readonly expiries: Deadlines<SocketId>;

  constructor(
    private readonly serverId: ServerId,
    private readonly registry: ConnectionRegistry,
    private readonly local: LocalConnections,
    private readonly presence: PresenceService,
    private readonly delivery: LocalDelivery,
    private readonly envelopes: EnvelopeFactory,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: SessionOptions,
  ) {
    this.expiries = new Deadlines(clock, (socketId) => this.expiryDue(socketId), (err, socketId) => logger.error({ err, socketId }, 'token expiry check failed'));
  }

  /**
   * Refuses a new connection when the user already holds the maximum. While the shared
   * registry is unreachable only this server's connections can be counted: the client is
   * still admitted and served locally (it is registered once the registry is back).
   */
  async admit(tenantId: TenantId, userId: UserId): Promise<void> {
    let held: number;
    try {
      held = (await this.registry.connectionsOf(tenantId, [userId])).length;
    } catch (err) {
      this.logger.warn({ err, userId }, 'connection registry unavailable; counting local connections only');
      held = this.local.connectionsOf(tenantId, [userId]).length;
    }
    if (held >= this.options.maxConnectionsPerUser) {
      throw new SwitchboardError('TOO_MANY_CONNECTIONS', `A user may hold at most ${this.options.maxConnectionsPerUser} connections`, { limit: this.options.maxConnectionsPerUser });
    }
  }

  async open(info: SessionInfo): Promise<void> {
    this.logger.debug({ socketId: info.socketId, tenantId: info.tenantId, userId: info.userId, deviceId: info.deviceId, ip: info.ip, userAgent: info.userAgent, transport: info.transport }, 'connection opened');
    const session: Session = { info, connection: this.connectionOf(info), warned: false };
    this.sessions.set(info.socketId, session);
    this.local.add(session.connection);
    // In the local index before the lookup: a channel the user is added to meanwhile still reaches this socket.
    await this.delivery.join(info.socketId, [tenantTopic(info.tenantId)]);
    await this.delivery.join(info.socketId, await this.options.topicsOf(info.tenantId, info.userId));
    // Closed meanwhile: nothing to expire.
    if (this.sessions.get(info.socketId) === session) this.armExpiry(session);
    // Without the shared registry the socket still works locally; it is announced again when the backend is back.
    await this.announce(session).catch((err: unknown) => this.logger.warn({ err, socketId: info.socketId }, 'could not register the session in the cluster'));
  }

  /**
   * Brings the shared registry and presence back in line with this server's sessions once
   * the backend is reachable again: every local session is registered again (the registry
   * may have lost them, e.g. a Redis restart; registration is idempotent, so sessions that
   * survived are unaffected), and sockets that closed while it was unreachable, whose
   * removal failed then, are removed now, so their users do not stay online forever.
   */
  async reannounce(): Promise<{ registered: number; removed: number }> {
    const all = [...this.sessions.values()];
    for (const s of all) await this.announce(s);
    const stale = (await this.registry.connectionsOnServer(this.serverId)).filter((c) => !this.sessions.has(c.socketId));
    for (const c of stale) {
      await this.registry.unregister(c);
      await this.presence.reap(c, c.socketId);
    }
    return { registered: all.length, removed: stale.length };
  }

  /** Accepts a fresh token for the same user and tenant and moves the expiry. */
  refresh(socketId: SocketId, claims: TokenClaims): { expiresAt: number | null } {
    const session = this.sessions.get(socketId);
    if (!session) throw new SwitchboardError('UNAVAILABLE', 'The session is closing');
    if (claims.tenantId !== session.info.tenantId || claims.userId !== session.info.userId) throw new SwitchboardError('AUTH_MISMATCH');
    session.info.expiresAt = claims.expiresAt;
    session.warned = false;
    this.armExpiry(session);
    return { expiresAt: claims.expiresAt };
  }

  async close(socketId: SocketId): Promise<void> {
    const session = this.sessions.get(socketId);
    if (!session) return;
    this.sessions.delete(socketId);
    this.expiries.delete(socketId);
    const { info, connection } = session;
    this.local.remove(connection);
    this.presence.disconnected(info, socketId);
    await this.registry.unregister(connection);
  }

  get(socketId: SocketId): SessionInfo | undefined {
    return this.sessions.get(socketId)?.info;
  }

  list(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => s.info);
  }

  get size(): number {
    return this.sessions.size;
  }

  private async announce(session: Session): Promise<void> {
    await this.registry.register(session.connection);
    await this.presence.connected(session.info, session.info.socketId);
  }

  private connectionOf(info: SessionInfo): SocketConnection {
    return {
      socketId: info.socketId,
      serverId: this.serverId,
      tenantId: info.tenantId,
      userId: info.userId,
      deviceId: info.deviceId,
      connectedAt: info.connectedAt,
    };
  }

  /** Schedules the session's next expiry step: the `auth:expiring` warning if not sent yet, else the expiry. */
  private armExpiry(session: Session): void {
    const { expiresAt, socketId } = session.info;
    if (expiresAt === null) {
      this.expiries.delete(socketId);
      return;
    }
    const warnAt = expiresAt - this.options.expiryWarningMs;
    this.expiries.set(socketId, !session.warned && warnAt > this.clock.now() ? warnAt : expiresAt);
  }

  private expiryDue(socketId: SocketId): void {
    const session = this.sessions.get(socketId);
    const expiresAt = session?.info.expiresAt;
    if (!session || expiresAt === undefined || expiresAt === null) return;
    const now = this.clock.now();
    if (now < expiresAt) {
      if (!session.warned && now >= expiresAt - this.options.expiryWarningMs) {
        session.warned = true;
        this.delivery.emit([socketId], this.envelopes.create(session.info.tenantId, 'event', 'auth:expiring', { expiresAt }));
      }
      this.armExpiry(session);
      return;
    }
    this.logger.info({ socketId, userId: session.info.userId }, 'token expired; disconnecting');
    this.delivery.disconnect([socketId], 'TOKEN_EXPIRED');
  }
}

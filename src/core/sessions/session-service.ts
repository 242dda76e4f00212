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

/**
 * What the server keeps about each connection (seed 002 `UserConnection`). It is also the
 * connection's entry in the local index and the registry (`SocketConnection`): one object per
 * connection, not a copy of its fields for each.
 */
export interface SessionInfo extends Principal, SocketConnection {
  userAgent: string;
  ip: string;
  transport: string;
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

/** Connection lifecycle: registration, tenant topic, presence, token expiry and refresh. */
export class SessionService {
  private readonly sessions = new Map<SocketId, SessionInfo>();
  /** Sessions sent `auth:expiring` for their current token. */
  private readonly warned = new Set<SocketId>();
  /** Opens under way, which a close of the same socket waits for. */
  private readonly opening = new Map<SocketId, Promise<void>>();
  /** Each session's next expiry step: the `auth:expiring` warning, then the expiry. */
  private readonly expiries: Deadlines<SocketId>;

  constructor(
    private readonly serverId: ServerId,
    private readonly registry: ConnectionRegistry,
    private readonly local: LocalConnections,
    private readonly presence: Pick<PresenceService, 'connected' | 'disconnected' | 'reap'>,
    private readonly delivery: Pick<LocalDelivery, 'join' | 'emit' | 'disconnect'>,
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

  /**
   * Registers the session: local index, tenant and channel topics, token expiry, registry and
   * presence. A `close` of the socket while this runs waits for it, so that what it registers
   * is removed after it, not left behind by a close that came first.
   */
  async open(info: SessionInfo): Promise<void> {
    const opened = this.register(info);
    this.opening.set(info.socketId, opened);
    try {
      await opened;
    } finally {
      if (this.opening.get(info.socketId) === opened) this.opening.delete(info.socketId);
    }
  }

  private async register(info: SessionInfo): Promise<void> {
    this.logger.debug({ socketId: info.socketId, tenantId: info.tenantId, userId: info.userId, deviceId: info.deviceId, ip: info.ip, userAgent: info.userAgent, transport: info.transport }, 'connection opened');
    this.sessions.set(info.socketId, info);
    this.local.add(info);
    // In the local index before the lookup: a channel the user is added to meanwhile still reaches this socket.
    await this.delivery.join(info.socketId, [tenantTopic(info.tenantId)]);
    await this.delivery.join(info.socketId, await this.options.topicsOf(info.tenantId, info.userId));
    // Closed meanwhile: nothing to expire.
    if (this.sessions.get(info.socketId) === info) this.armExpiry(info);
    // Without the shared registry the socket still works locally; it is announced again when the backend is back.
    await this.announce(info).catch((err: unknown) => this.logger.warn({ err, socketId: info.socketId }, 'could not register the session in the cluster'));
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
    const info = this.sessions.get(socketId);
    if (!info) throw new SwitchboardError('UNAVAILABLE', 'The session is closing');
    if (claims.tenantId !== info.tenantId || claims.userId !== info.userId) throw new SwitchboardError('AUTH_MISMATCH');
    info.expiresAt = claims.expiresAt;
    this.warned.delete(socketId);
    this.armExpiry(info);
    return { expiresAt: claims.expiresAt };
  }

  async close(socketId: SocketId): Promise<void> {
    // Its failure is the open's to report; the close removes whatever it registered.
    await this.opening.get(socketId)?.catch(() => undefined);
    const info = this.sessions.get(socketId);
    if (!info) return;
    this.sessions.delete(socketId);
    this.warned.delete(socketId);
    this.expiries.delete(socketId);
    this.local.remove(info);
    this.presence.disconnected(info, socketId);
    await this.registry.unregister(info);
  }

  get(socketId: SocketId): SessionInfo | undefined {
    return this.sessions.get(socketId);
  }

  list(): SessionInfo[] {
    return [...this.sessions.values()];
  }

  get size(): number {
    return this.sessions.size;
  }

  private async announce(info: SessionInfo): Promise<void> {
    await this.registry.register(info);
    await this.presence.connected(info, info.socketId);
  }

  /** Schedules the session's next expiry step: the `auth:expiring` warning if not sent yet, else the expiry. */
  private armExpiry(info: SessionInfo): void {
    const { expiresAt, socketId } = info;
    if (expiresAt === null) {
      this.expiries.delete(socketId);
      return;
    }
    const warnAt = expiresAt - this.options.expiryWarningMs;
    this.expiries.set(socketId, !this.warned.has(socketId) && warnAt > this.clock.now() ? warnAt : expiresAt);
  }

  private expiryDue(socketId: SocketId): void {
    const info = this.sessions.get(socketId);
    const expiresAt = info?.expiresAt;
    if (!info || expiresAt === undefined || expiresAt === null) return;
    const now = this.clock.now();
    if (now < expiresAt) {
      if (!this.warned.has(socketId) && now >= expiresAt - this.options.expiryWarningMs) {
        this.warned.add(socketId);
        this.delivery.emit([socketId], this.envelopes.create(info.tenantId, 'event', 'auth:expiring', { expiresAt }));
      }
      this.armExpiry(info);
      return;
    }
    this.logger.info({ socketId, userId: info.userId }, 'token expired; disconnecting');
    this.delivery.disconnect([socketId], 'TOKEN_EXPIRED');
  }
}

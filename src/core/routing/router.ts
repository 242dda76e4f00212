import type { DeviceId, ServerId, SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { Envelope } from '../../domain/protocol/envelope.js';
import type { ClusterBus, DeliveryBatch } from '../../ports/cluster-bus.js';
import type { ConnectionRegistry, SocketConnection } from '../../ports/connection-registry.js';
import type { EmitOptions, LocalDelivery, MembershipChange } from '../../ports/local-delivery.js';
import type { Logger } from '../../ports/logger.js';
import type { TrafficStats } from '../api/traffic-stats.js';
import type { LocalConnections } from './local-connections.js';

export interface UserDeliveryOptions {
  /** Leave out this socket (usually the sender's own). */
  exceptSocket?: SocketId;
  /** Only this device of the users. */
  deviceId?: DeviceId;
  volatile?: boolean;
}

/**
 * Delivers envelopes to users wherever they are connected (seed 000 §3): resolve the
 * users' sockets, emit to local ones directly, and send one batch per remote server.
 *
 * The rule for which path a message takes (docs/decisions/001): events addressed to users
 * (conversation events, pushes to a user or room) go through the registry; broadcast
 * channels, tenant-wide pushes and presence go to topics, whose sockets joined them.
 */
export class Router {
  constructor(
    private readonly serverId: ServerId,
    private readonly local: LocalConnections,
    private readonly registry: ConnectionRegistry,
    private readonly delivery: LocalDelivery,
    private readonly bus: ClusterBus,
    private readonly logger: Logger,
    private readonly stats: TrafficStats,
  ) {}

  /** Starts taking batches that other servers route to this one. */
  async start(): Promise<void> {
    await this.bus.subscribe(this.serverId, (batch) => this.receive(batch));
  }

  /**
   * Returns how many sockets the envelope was routed to (0: nobody is connected). Local
   * sockets come from this server's own index; only remote ones need the registry, and if
   * the registry is unreachable, local delivery still happens.
   */
  async toUsers(tenantId: TenantId, userIds: readonly UserId[], envelope: Envelope, options: UserDeliveryOptions = {}): Promise<number> {
    if (userIds.length === 0) return 0;
    const wanted = (c: SocketConnection) => c.socketId !== options.exceptSocket && (options.deviceId === undefined || c.deviceId === options.deviceId);
    const local = this.local.connectionsOf(tenantId, userIds).filter(wanted).map((c) => c.socketId);
    const remote = new Map<ServerId, SocketId[]>();
    let everywhere: SocketConnection[] = [];
    try {
      everywhere = await this.registry.connectionsOf(tenantId, userIds);
    } catch (err) {
      this.logger.warn({ err }, 'connection registry unavailable; delivering to local sockets only');
    }
    for (const c of everywhere) {
      if (c.serverId === this.serverId || !wanted(c)) continue;
      const list = remote.get(c.serverId);
      if (list) list.push(c.socketId);
      else remote.set(c.serverId, [c.socketId]);
    }
    const volatile = options.volatile ?? false;
    if (local.length > 0) this.delivery.emit(local, envelope, { volatile });
    for (const [serverId, socketIds] of remote) {
      const batch: DeliveryBatch = { from: this.serverId, items: [{ socketIds, envelope, volatile }] };
      this.bus.publish(serverId, batch).catch((err: unknown) => {
        this.logger.warn({ err, serverId, sockets: socketIds.length }, 'cross-server delivery failed');
      });
    }
    const routed = local.length + [...remote.values()].reduce((n, ids) => n + ids.length, 0);
    this.stats.record('outgoing', routed);
    return routed;
  }

  toTopic(topic: string, envelope: Envelope, options: EmitOptions = {}): void {
    this.delivery.emitToTopic(topic, envelope, options);
  }

  /** Tells every server that a conversation changed, moving its members' sockets in and out of its topic. */
  membershipChanged(change: MembershipChange): Promise<void> {
    return this.delivery.membershipChanged(change);
  }

  private receive(batch: DeliveryBatch): void {
    for (const item of batch.items) this.delivery.emit(item.socketIds, item.envelope, { volatile: item.volatile });
  }
}

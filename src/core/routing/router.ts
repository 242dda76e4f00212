import type { DeviceId, ServerId, SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { Envelope } from '../../domain/protocol/envelope.js';
import type { ClusterBus, DeliveryBatch } from '../../ports/cluster-bus.js';
import type { ConnectionRegistry, SocketConnection } from '../../ports/connection-registry.js';
import type { EmitOptions, LocalDelivery, MembershipChange, OffsetGroup } from '../../ports/local-delivery.js';
import type { Inbox } from '../../ports/inbox.js';
import type { Logger } from '../../ports/logger.js';
import type { Clock } from '../../ports/system.js';
import type { TrafficStats } from '../api/traffic-stats.js';
import type { DeliveryCounters } from '../delivery/delivery-counters.js';
import type { DeviceStreams } from '../delivery/device-streams.js';
import type { LocalConnections } from './local-connections.js';

export interface UserDeliveryOptions {
  /** Leave out this socket (usually the sender's own). */
  exceptSocket?: SocketId;
  /** Only this device of the users (live only: not kept in the inbox). */
  deviceId?: DeviceId;
  /** At-most-once and live only: not kept in the inbox. */
  volatile?: boolean;
  /** The sequence the event belongs to in the inboxes (its conversation; `Inbox.append`). */
  stream?: string;
}

/** The inbox side of routing: where entries are kept, and the streams of tracked devices. */
export interface InboxRouting {
  inbox: Inbox;
  streams: DeviceStreams;
  counters: DeliveryCounters;
  clock: Clock;
}

/**
 * Delivers envelopes to users wherever they are connected (seed 000 §3): resolve the
 * users' sockets, emit to local ones directly, and send one batch per remote server.
 *
 * The rule for which path a message takes (docs/decisions/001): events addressed to users
 * (conversation events, pushes to a user or room) go through the registry; broadcast
 * channels, tenant-wide pushes and presence go to topics, whose sockets joined them.
 * Events addressed to users that are neither volatile nor for one device are first kept in
 * each user's inbox (docs/protocol.md §12) and carry their offset.
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
    private readonly inboxes: InboxRouting,
  ) {}

  /** Starts taking batches that other servers route to this one. */
  async start(): Promise<void> {
    await this.bus.subscribe(this.serverId, (batch) => this.receive(batch));
  }

  /**
   * Returns how many sockets the envelope was routed to (0: nobody is connected). Local
   * sockets come from this server's own index; only remote ones need the registry, and if
   * the registry is unreachable, local delivery still happens. When the inbox cannot be
   * written (its Redis is down), the event is still delivered live, without an offset, and
   * counted: it is not replayed after a reconnect, and clients find it by `seq` in history.
   */
  async toUsers(tenantId: TenantId, userIds: readonly UserId[], envelope: Envelope, options: UserDeliveryOptions = {}): Promise<number> {
    if (userIds.length === 0) return 0;
    const durable = !options.volatile && options.deviceId === undefined;
    let offsets = new Map<UserId, number>();
    if (durable) {
      try {
        const appended = await this.inboxes.inbox.append(tenantId, userIds, envelope, options.exceptSocket ?? null, this.inboxes.clock.now(), options.stream);
        offsets = appended.offsets;
        if (appended.deadLetters.length > 0) {
          this.inboxes.counters.deadLetters += appended.deadLetters.length;
          this.logger.warn({ tenantId, entries: appended.deadLetters.length }, 'inbox size cap reached: unacknowledged entries moved to the dead letters');
        }
      } catch (err) {
        this.inboxes.counters.liveOnly += 1;
        this.logger.warn({ err, tenantId }, 'inbox append failed; delivering live only');
      }
    }
    const connections = await this.connectionsOf(tenantId, userIds);
    const wanted = (c: SocketConnection) => options.deviceId === undefined || c.deviceId === options.deviceId;
    const perUser = new Map<UserId, SocketConnection[]>();
    for (const c of connections) {
      if (!wanted(c)) continue;
      // Inbox entries reach the sender's socket too when it tracks its inbox; DeviceStreams decides.
      if (c.socketId === options.exceptSocket && !offsets.has(c.userId)) continue;
      const list = perUser.get(c.userId);
      if (list) list.push(c);
      else perUser.set(c.userId, [c]);
    }
    const volatile = options.volatile ?? false;
    const remote = new Map<ServerId, DeliveryBatch['items']>();
    /** Returns this server's sockets of the list and queues one item per other server, with the envelope (for that offset). */
    const split = (list: readonly SocketConnection[], offset?: number): SocketId[] => {
      const local: SocketId[] = [];
      let byServer: Map<ServerId, SocketId[]> | null = null;
      for (const c of list) {
        if (c.serverId === this.serverId) local.push(c.socketId);
        else {
          byServer ??= new Map();
          const ids = byServer.get(c.serverId);
          if (ids) ids.push(c.socketId);
          else byServer.set(c.serverId, [c.socketId]);
        }
      }
      if (byServer === null) return local;
      const env = offset === undefined ? envelope : { ...envelope, offset };
      for (const [serverId, socketIds] of byServer) {
        const items = remote.get(serverId) ?? [];
        items.push({ socketIds, envelope: env, volatile, exceptSocket: options.exceptSocket });
        remote.set(serverId, items);
      }
      return local;
    };
    // An envelope with an offset is per user, emitted locally in one go (encoded once, the
    // offset added per user); users without one share the envelope as it is.
    const shared: SocketConnection[] = [];
    const withOffset: OffsetGroup[] = [];
    let routed = 0;
    for (const [userId, list] of perUser) {
      const offset = offsets.get(userId);
      if (offset === undefined) shared.push(...list);
      else {
        const local = split(list, offset);
        if (local.length > 0) withOffset.push({ socketIds: local, offset });
      }
      routed += list.length;
    }
    if (withOffset.length > 0) this.inboxes.streams.emitEach(withOffset, envelope, options.exceptSocket);
    if (shared.length > 0) {
      const local = split(shared);
      if (local.length > 0) this.emitLocal(local, envelope, volatile, options.exceptSocket);
    }
    for (const [serverId, items] of remote) {
      this.bus.publish(serverId, { from: this.serverId, items }).catch((err: unknown) => {
        this.logger.warn({ err, serverId, items: items.length }, 'cross-server delivery failed');
      });
    }
    this.stats.record('outgoing', routed);
    return routed;
  }

  /** False only when nobody anywhere can get an event on the topic (see LocalDelivery). */
  topicHasListeners(topic: string): boolean {
    return this.delivery.topicHasListeners(topic);
  }

  toTopic(topic: string, envelope: Envelope, options: EmitOptions = {}): void {
    this.delivery.emitToTopic(topic, envelope, options);
  }

  /** Tells every server that a conversation changed, moving its members' sockets in and out of its topic. */
  membershipChanged(change: MembershipChange): Promise<void> {
    return this.delivery.membershipChanged(change);
  }

  /** This server's sockets of the users, then the other servers' ones from the registry. */
  private async connectionsOf(tenantId: TenantId, userIds: readonly UserId[]): Promise<SocketConnection[]> {
    const all = this.local.connectionsOf(tenantId, userIds);
    try {
      for (const c of await this.registry.connectionsOf(tenantId, userIds)) if (c.serverId !== this.serverId) all.push(c);
    } catch (err) {
      this.logger.warn({ err }, 'connection registry unavailable; delivering to local sockets only');
    }
    return all;
  }

  private emitLocal(socketIds: SocketId[], envelope: Envelope, volatile: boolean, exceptSocket: SocketId | undefined): void {
    if (envelope.offset !== undefined) this.inboxes.streams.emit(socketIds, envelope, exceptSocket);
    else this.delivery.emit(socketIds.filter((id) => id !== exceptSocket), envelope, { volatile });
  }

  /** Consecutive items of one inbox entry (one per user, each with its offset) are emitted together, encoded once. */
  private receive(batch: DeliveryBatch): void {
    const { items } = batch;
    for (let i = 0; i < items.length; ) {
      const item = items[i]!;
      const { offset, id } = item.envelope;
      if (offset === undefined) {
        this.emitLocal(item.socketIds, item.envelope, item.volatile, item.exceptSocket);
        i++;
        continue;
      }
      const groups: OffsetGroup[] = [{ socketIds: item.socketIds, offset }];
      for (i++; i < items.length; i++) {
        const next = items[i]!;
        if (next.envelope.id !== id || next.envelope.offset === undefined || next.exceptSocket !== item.exceptSocket) break;
        groups.push({ socketIds: next.socketIds, offset: next.envelope.offset });
      }
      this.inboxes.streams.emitEach(groups, item.envelope, item.exceptSocket);
    }
  }
}

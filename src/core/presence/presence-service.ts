import type { SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { ChosenStatus, Presence, Principal } from '../../domain/model.js';
import type { LocalDelivery } from '../../ports/local-delivery.js';
import type { Logger } from '../../ports/logger.js';
import type { PresenceStore } from '../../ports/presence-store.js';
import type { Clock } from '../../ports/system.js';
import { SwitchboardError } from '../../domain/errors.js';
import type { EnvelopeFactory } from '../routing/envelopes.js';
import { presenceTopic } from '../routing/topics.js';
import type { Router } from '../routing/router.js';

export interface PresenceOptions {
  /** A closed socket counts as connected for this long, so a page reload does not flap to offline. */
  graceMs: number;
  /** Most users one socket may subscribe to. */
  maxSubscriptionsPerSocket: number;
}

/**
 * Presence: multi-device aware (offline only after the last device leaves and the grace
 * period passes). Changes go once to the user's presence topic, which only subscribers join.
 */
export class PresenceService {
  private readonly pendingLeaves = new Map<NodeJS.Timeout, { p: Principal; socketId: SocketId }>();
  private readonly subscriptions = new Map<SocketId, Set<string>>();

  constructor(
    private readonly store: PresenceStore,
    private readonly router: Router,
    private readonly delivery: LocalDelivery,
    private readonly envelopes: EnvelopeFactory,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: PresenceOptions,
  ) {}

  async connected(p: Principal, socketId: SocketId): Promise<void> {
    const sessions = await this.store.addSession(p.tenantId, p.userId, socketId, this.nowIso());
    if (sessions === 1) await this.publishIfFollowed(p.tenantId, p.userId);
  }

  /** Removes the session after the grace period; publishes `offline` if it was the last. */
  disconnected(p: Principal, socketId: SocketId): void {
    this.subscriptions.delete(socketId);
    const timer = setTimeout(() => {
      this.pendingLeaves.delete(timer);
      void this.leave(p, socketId);
    }, this.options.graceMs);
    this.pendingLeaves.set(timer, { p, socketId });
  }

  async update(p: Principal, change: { status?: ChosenStatus; customStatus?: string | null }): Promise<Presence> {
    await this.store.setStatus(p.tenantId, p.userId, change);
    return this.publish(p.tenantId, p.userId);
  }

  async subscribe(tenantId: TenantId, socketId: SocketId, userIds: readonly UserId[]): Promise<Presence[]> {
    const topics = this.subscriptions.get(socketId) ?? new Set<string>();
    const fresh = [...new Set(userIds.map((u) => presenceTopic(tenantId, u)))].filter((t) => !topics.has(t));
    if (topics.size + fresh.length > this.options.maxSubscriptionsPerSocket) {
      throw new SwitchboardError('VALIDATION_FAILED', `A connection may follow at most ${this.options.maxSubscriptionsPerSocket} users`, [{ field: 'userIds', message: 'too many subscriptions' }]);
    }
    for (const t of fresh) topics.add(t);
    this.subscriptions.set(socketId, topics);
    // Joined before reading, so no change between the answer and the first event is missed.
    await this.delivery.join(socketId, fresh);
    return this.store.get(tenantId, userIds);
  }

  unsubscribe(tenantId: TenantId, socketId: SocketId, userIds: readonly UserId[]): { unsubscribed: number } {
    const topics = this.subscriptions.get(socketId);
    const gone = userIds.map((u) => presenceTopic(tenantId, u)).filter((t) => topics?.delete(t));
    this.delivery.leave(socketId, gone);
    return { unsubscribed: gone.length };
  }

  query(tenantId: TenantId, userIds: readonly UserId[]): Promise<Presence[]> {
    return this.store.get(tenantId, userIds);
  }

  /** Ends a session of a server that died: no grace period, it is already gone. */
  async reap(p: Principal, socketId: SocketId): Promise<void> {
    await this.leave(p, socketId);
  }

  /** Ends pending grace periods at once (shutdown): their sessions are removed now. */
  async flush(): Promise<void> {
    const pending = [...this.pendingLeaves];
    this.pendingLeaves.clear();
    for (const [timer] of pending) clearTimeout(timer);
    await Promise.all(pending.map(([, { p, socketId }]) => this.leave(p, socketId)));
  }

  private async leave(p: Principal, socketId: SocketId): Promise<void> {
    try {
      const sessions = await this.store.removeSession(p.tenantId, p.userId, socketId, this.nowIso());
      if (sessions === 0) await this.publishIfFollowed(p.tenantId, p.userId);
    } catch (err) {
      this.logger.warn({ err, userId: p.userId }, 'presence leave failed');
    }
  }

  /** Usually nobody follows a user who comes or goes on a single node: then nothing is read or built. */
  private async publishIfFollowed(tenantId: TenantId, userId: UserId): Promise<void> {
    if (this.router.topicHasListeners(presenceTopic(tenantId, userId))) await this.publish(tenantId, userId);
  }

  private async publish(tenantId: TenantId, userId: UserId): Promise<Presence> {
    const [presence] = await this.store.get(tenantId, [userId]);
    const current = presence!;
    this.router.toTopic(presenceTopic(tenantId, userId), this.envelopes.create(tenantId, 'event', 'presence:changed', current));
    return current;
  }

  private nowIso(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

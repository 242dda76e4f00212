import { SwitchboardError } from '../../domain/errors.js';
import { asConversationId, asDeviceId, asTenantId, asUserId, type ConversationId, type TenantId, type UserId } from '../../domain/ids.js';
import type { Presence } from '../../domain/model.js';
import type { PushRequestInput } from '../../domain/protocol/schemas.js';
import type { Clock } from '../../ports/system.js';
import type { ConversationService } from '../conversations/conversation-service.js';
import type { HistoryPage, MessageService } from '../messages/message-service.js';
import type { PresenceService } from '../presence/presence-service.js';
import type { EnvelopeFactory } from '../routing/envelopes.js';
import { conversationStream, tenantTopic, userStream } from '../routing/topics.js';
import type { Router } from '../routing/router.js';
import type { SessionService } from '../sessions/session-service.js';
import type { DeliveryCounters } from '../delivery/delivery-counters.js';
import type { ProcessorCounts } from '../processor/message-processor.js';
import type { TrafficStats } from './traffic-stats.js';

export interface PushResult {
  target: 'user' | 'room' | 'tenant';
  /** Sockets the event was routed to; null for a tenant-wide broadcast, which is not counted. */
  sockets: number | null;
}

/** Seed 002 `SystemMetrics`. */
export interface SystemMetrics {
  activeConnections: number;
  activeUsers: number;
  messageRate: { incoming: number; outgoing: number };
  errorRate: number;
  roomCount: number;
  uptime: number;
  memoryUsage: { rss: number; heapTotal: number; heapUsed: number; external: number };
  /** Acknowledged delivery since start (docs/protocol.md §12). */
  delivery: { acks: number; retries: number; replayed: number; expired: number; deadLetters: number; liveOnly: number; slowConsumers: number };
  /** The message processor inside this server, if it runs one. */
  processor: ProcessorCounts | null;
}

export interface RuntimeProbe {
  memoryUsage(): SystemMetrics['memoryUsage'];
  roomCount(): number;
  processor(): ProcessorCounts | null;
}

/**
 * The transport-free server API: what the HTTP push API, the dashboard and other
 * back-office callers may do. Socket handlers call the feature services directly.
 */
export class ServerApi {
  private readonly startedAt: number;

  constructor(
    private readonly router: Router,
    private readonly envelopes: EnvelopeFactory,
    private readonly conversations: ConversationService,
    private readonly messages: MessageService,
    private readonly presence: PresenceService,
    private readonly sessions: SessionService,
    private readonly stats: TrafficStats,
    private readonly counters: DeliveryCounters,
    private readonly runtime: RuntimeProbe,
    private readonly clock: Clock,
  ) {
    this.startedAt = clock.now();
  }

  /** Pushes a backend event to a user (optionally one device), a room's members, or a whole tenant. */
  async push(req: PushRequestInput): Promise<PushResult> {
    const tenantId = asTenantId(req.tenantId);
    const env = this.envelopes.create(tenantId, 'event', req.event, req.payload);
    const volatile = req.options?.volatile ?? false;
    if (req.userId !== undefined) {
      const sockets = await this.router.toUsers(tenantId, [asUserId(req.userId)], env, {
        volatile,
        deviceId: req.deviceId === undefined ? undefined : asDeviceId(req.deviceId),
        stream: userStream(asUserId(req.userId)),
      });
      return { target: 'user', sockets };
    }
    if (req.roomId !== undefined) {
      const members = await this.conversations.memberIds(tenantId, await this.existing(tenantId, asConversationId(req.roomId)));
      const sockets = await this.router.toUsers(tenantId, members, env, { volatile, stream: conversationStream(asConversationId(req.roomId)) });
      return { target: 'room', sockets };
    }
    this.router.toTopic(tenantTopic(tenantId), env, { volatile });
    return { target: 'tenant', sockets: null };
  }

  async history(tenantId: TenantId, conversationId: ConversationId, q: { before?: number; after?: number; limit: number }): Promise<HistoryPage> {
    return this.messages.page(tenantId, await this.existing(tenantId, conversationId), q);
  }

  presenceOf(tenantId: TenantId, userIds: readonly UserId[]): Promise<Presence[]> {
    return this.presence.query(tenantId, userIds);
  }

  status(): SystemMetrics {
    const sessions = this.sessions.list();
    return {
      activeConnections: sessions.length,
      activeUsers: new Set(sessions.map((s) => `${s.tenantId}/${s.userId}`)).size,
      messageRate: { incoming: this.stats.rate('incoming'), outgoing: this.stats.rate('outgoing') },
      errorRate: this.stats.rate('errors'),
      roomCount: this.runtime.roomCount(),
      uptime: Math.round((this.clock.now() - this.startedAt) / 1000),
      memoryUsage: this.runtime.memoryUsage(),
      delivery: { ...this.counters },
      processor: this.runtime.processor(),
    };
  }

  private async existing(tenantId: TenantId, conversationId: ConversationId): Promise<ConversationId> {
    const c = await this.conversations.exists(tenantId, conversationId);
    if (!c) throw new SwitchboardError('NOT_FOUND', 'Conversation not found', { conversationId });
    return conversationId;
  }
}

import { asConversationId, type ConversationId, type TenantId, type UserId } from '../../domain/ids.js';
import type { Principal } from '../../domain/model.js';
import type { Clock } from '../../ports/system.js';
import type { ConversationService } from '../conversations/conversation-service.js';
import type { EnvelopeFactory } from '../routing/envelopes.js';
import type { Router } from '../routing/router.js';

export interface TypingOptions {
  /** A repeated `typing:start` within this window refreshes the timeout but is not re-broadcast (seed: 3 s). */
  throttleMs: number;
  /** Typing stops by itself this long after the last `typing:start`. */
  timeoutMs: number;
}

interface Typer {
  lastBroadcast: number;
  timer: NodeJS.Timeout;
}

/**
 * Typing indicators: volatile, never persisted. Every change is sent as `typing:update`
 * with the full list of current typers, so clients never need to merge deltas.
 */
export class TypingService {
  private readonly typers = new Map<string, Map<UserId, Typer>>();

  constructor(
    private readonly conversations: ConversationService,
    private readonly router: Router,
    private readonly envelopes: EnvelopeFactory,
    private readonly clock: Clock,
    private readonly options: TypingOptions,
  ) {}

  async start(by: Principal, conversationIdRaw: string): Promise<{ throttled: boolean }> {
    const conversationId = asConversationId(conversationIdRaw);
    await this.conversations.requireMember(by.tenantId, conversationId, by.userId);
    const key = keyOf(by.tenantId, conversationId);
    const room = this.typers.get(key) ?? new Map<UserId, Typer>();
    this.typers.set(key, room);
    const now = this.clock.now();
    const existing = room.get(by.userId);
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => this.stopNow(by.tenantId, conversationId, by.userId, 'timeout'), this.options.timeoutMs);
    timer.unref();
    const throttled = existing !== undefined && now - existing.lastBroadcast < this.options.throttleMs;
    room.set(by.userId, { lastBroadcast: throttled ? existing.lastBroadcast : now, timer });
    if (!throttled) await this.broadcast(by.tenantId, conversationId, by.userId, true, 'start');
    return { throttled };
  }

  async stop(by: Principal, conversationIdRaw: string): Promise<{ stopped: boolean }> {
    const conversationId = asConversationId(conversationIdRaw);
    await this.conversations.requireMember(by.tenantId, conversationId, by.userId);
    return { stopped: this.stopNow(by.tenantId, conversationId, by.userId, 'stop') };
  }

  /** Sending a message ends the sender's typing in that conversation. */
  messageSent(by: Principal, conversationId: ConversationId): void {
    this.stopNow(by.tenantId, conversationId, by.userId, 'message');
  }

  typersOf(tenantId: TenantId, conversationId: ConversationId): UserId[] {
    return [...(this.typers.get(keyOf(tenantId, conversationId))?.keys() ?? [])];
  }

  close(): void {
    for (const room of this.typers.values()) for (const t of room.values()) clearTimeout(t.timer);
    this.typers.clear();
  }

  private stopNow(tenantId: TenantId, conversationId: ConversationId, userId: UserId, reason: 'stop' | 'timeout' | 'message'): boolean {
    const key = keyOf(tenantId, conversationId);
    const room = this.typers.get(key);
    const typer = room?.get(userId);
    if (!room || !typer) return false;
    clearTimeout(typer.timer);
    room.delete(userId);
    if (room.size === 0) this.typers.delete(key);
    void this.broadcast(tenantId, conversationId, userId, false, reason);
    return true;
  }

  private async broadcast(tenantId: TenantId, conversationId: ConversationId, userId: UserId, typing: boolean, reason: string): Promise<void> {
    try {
      const env = this.envelopes.create(tenantId, 'event', 'typing:update', {
        conversationId,
        userId,
        typing,
        reason,
        typers: this.typersOf(tenantId, conversationId),
      });
      const others = (await this.conversations.memberIds(tenantId, conversationId)).filter((u) => u !== userId);
      await this.router.toUsers(tenantId, others, env, { volatile: true });
    } catch {
      // Typing is at-most-once by contract: a lost indicator is corrected by the next one or the timeout.
    }
  }
}

const keyOf = (tenantId: TenantId, conversationId: ConversationId): string => `${tenantId}/${conversationId}`;

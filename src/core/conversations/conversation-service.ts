import { SwitchboardError } from '../../domain/errors.js';
import { asConversationId, asUserId, type ConversationId, type Seq, type SocketId, type TenantId, type UserId } from '../../domain/ids.js';
import type { Conversation, Member, MemberRole, Principal } from '../../domain/model.js';
import type { RoomCreateInput, RoomUpdateInput } from '../../domain/protocol/schemas.js';
import type { ConversationStore } from '../../ports/conversation-store.js';
import type { MessageSequencer } from '../../ports/message-sequencer.js';
import type { MessageStore } from '../../ports/message-store.js';
import type { Clock, IdGenerator } from '../../ports/system.js';
import type { EnvelopeFactory } from '../routing/envelopes.js';
import type { Router } from '../routing/router.js';
import { channelTopic, conversationStream } from '../routing/topics.js';
import type { MembershipCache } from './membership-cache.js';

export interface ConversationView {
  conversation: Conversation;
  members: Member[];
}

export interface ConversationSummary extends Conversation {
  role: MemberRole;
  lastSeq: Seq;
  readSeq: Seq;
}

const rank: Record<MemberRole, number> = { owner: 2, admin: 1, member: 0 };

/** Conversations (1:1, group, broadcast channel), their membership and permissions. */
export class ConversationService {
  constructor(
    private readonly store: ConversationStore,
    private readonly cache: MembershipCache,
    private readonly messages: MessageStore,
    private readonly sequencer: MessageSequencer,
    private readonly router: Router,
    private readonly envelopes: EnvelopeFactory,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
  ) {}

  /** The conversation and the caller's membership; NOT_FOUND / NOT_A_MEMBER otherwise. */
  async requireMember(tenantId: TenantId, conversationId: ConversationId, userId: UserId): Promise<{ conversation: Conversation; member: Member }> {
    const conversation = await this.cache.conversation(tenantId, conversationId);
    if (!conversation) throw new SwitchboardError('NOT_FOUND', 'Conversation not found', { conversationId });
    const member = await this.cache.member(tenantId, conversationId, userId);
    if (!member) throw new SwitchboardError('NOT_A_MEMBER', undefined, { conversationId });
    return { conversation, member };
  }

  /** The topics a user's sockets join on connect: those of the broadcast channels they are in. */
  async topicsOf(tenantId: TenantId, userId: UserId): Promise<string[]> {
    return (await this.store.listForUser(tenantId, userId)).filter((c) => c.type === 'channel').map((c) => channelTopic(tenantId, c.id));
  }

  async exists(tenantId: TenantId, conversationId: ConversationId): Promise<boolean> {
    return (await this.cache.conversation(tenantId, conversationId)) !== null;
  }

  async memberIds(tenantId: TenantId, conversationId: ConversationId): Promise<UserId[]> {
    return this.cache.memberIds(tenantId, conversationId);
  }

  async create(by: Principal, input: RoomCreateInput, socketId?: SocketId): Promise<ConversationView & { created: boolean }> {
    const now = new Date(this.clock.now()).toISOString();
    const others = [...new Set(input.members.map(asUserId))].filter((u) => u !== by.userId);
    if (input.type === 'direct' && others.length !== 1) {
      throw new SwitchboardError('VALIDATION_FAILED', 'A direct conversation has exactly one other member', [{ field: 'members', message: 'must name exactly one other user' }]);
    }
    const members: Member[] = [
      { userId: by.userId, role: input.type === 'direct' ? 'member' : 'owner', joinedAt: now },
      ...others.map((userId): Member => ({ userId, role: 'member', joinedAt: now })),
    ];
    const { conversation, created } = await this.store.create(
      {
        tenantId: by.tenantId,
        id: asConversationId(this.ids.next()),
        type: input.type,
        name: input.name ?? null,
        isPublic: input.type === 'direct' ? false : (input.isPublic ?? input.type === 'channel'),
        metadata: input.metadata ?? {},
        createdBy: by.userId,
        createdAt: now,
      },
      members,
    );
    const view = { conversation, members: await this.store.listMembers(by.tenantId, conversation.id) };
    if (created) {
      // A new conversation is in no cache yet; only a channel's topic needs its members.
      if (conversation.type === 'channel') await this.changed(conversation, view.members.map((m) => m.userId), []);
      const env = this.envelopes.create(by.tenantId, 'event', 'room:created', view);
      await this.router.toUsers(by.tenantId, view.members.map((m) => m.userId), env, { exceptSocket: socketId, stream: conversationStream(conversation.id) });
    }
    return { ...view, created };
  }

  async get(by: Principal, conversationId: ConversationId): Promise<ConversationView & { lastSeq: Seq; readCursors: { userId: UserId; seq: Seq }[] }> {
    const { conversation } = await this.requireMember(by.tenantId, conversationId, by.userId);
    const [members, lastSeqs, cursors] = await Promise.all([
      this.store.listMembers(by.tenantId, conversationId),
      this.sequencer.lastSeqs(by.tenantId, [conversationId]),
      this.messages.readCursors(by.tenantId, conversationId),
    ]);
    return {
      conversation,
      members,
      lastSeq: lastSeqs.get(conversationId) ?? 0,
      readCursors: cursors.map((c) => ({ userId: c.userId, seq: c.seq })),
    };
  }

  async list(by: Principal): Promise<ConversationSummary[]> {
    const conversations = await this.store.listForUser(by.tenantId, by.userId);
    const lastSeqs = await this.sequencer.lastSeqs(by.tenantId, conversations.map((c) => c.id));
    return Promise.all(
      conversations.map(async (c) => {
        const [member, cursors] = await Promise.all([
          this.store.getMember(by.tenantId, c.id, by.userId),
          this.messages.readCursors(by.tenantId, c.id),
        ]);
        return {
          ...c,
          role: member?.role ?? 'member',
          lastSeq: lastSeqs.get(c.id) ?? 0,
          readSeq: cursors.find((r) => r.userId === by.userId)?.seq ?? 0,
        };
      }),
    );
  }

  /** Joins a public group or channel; for a member it is a no-op that returns the conversation. */
  async join(by: Principal, conversationId: ConversationId, socketId?: SocketId): Promise<ConversationView> {
    const conversation = await this.store.get(by.tenantId, conversationId);
    if (!conversation) throw new SwitchboardError('NOT_FOUND', 'Conversation not found', { conversationId });
    const existing = await this.store.getMember(by.tenantId, conversationId, by.userId);
    if (!existing) {
      if (!conversation.isPublic) throw new SwitchboardError('FORBIDDEN', 'This conversation is private; ask an admin to add you', { conversationId });
      const member: Member = { userId: by.userId, role: 'member', joinedAt: new Date(this.clock.now()).toISOString() };
      const added = await this.store.addMembers(by.tenantId, conversationId, [member]);
      if (added.length > 0) {
        await this.changed(conversation, [by.userId], []);
        const env = this.envelopes.create(by.tenantId, 'event', 'room:member_joined', { conversationId, member });
        await this.router.toUsers(by.tenantId, await this.memberIds(by.tenantId, conversationId), env, { exceptSocket: socketId, stream: conversationStream(conversationId) });
      }
    }
    return { conversation, members: await this.store.listMembers(by.tenantId, conversationId) };
  }

  async leave(by: Principal, conversationId: ConversationId, socketId?: SocketId): Promise<{ conversationId: ConversationId }> {
    const { conversation, member } = await this.requireMember(by.tenantId, conversationId, by.userId);
    if (conversation.type === 'direct') throw new SwitchboardError('FORBIDDEN', 'A direct conversation cannot be left', { conversationId });
    await this.store.removeMembers(by.tenantId, conversationId, [by.userId]);
    const remaining = await this.store.listMembers(by.tenantId, conversationId);
    if (member.role === 'owner' && remaining.length > 0 && !remaining.some((m) => m.role === 'owner')) {
      // Ownership passes to the most senior remaining member so the room stays administrable.
      const heir = [...remaining].sort((a, b) => rank[b.role] - rank[a.role] || a.joinedAt.localeCompare(b.joinedAt))[0]!;
      await this.store.setRole(by.tenantId, conversationId, heir.userId, 'owner');
    }
    await this.changed(conversation, [], [by.userId]);
    const env = this.envelopes.create(by.tenantId, 'event', 'room:member_left', { conversationId, userId: by.userId });
    await this.router.toUsers(by.tenantId, [...remaining.map((m) => m.userId), by.userId], env, { exceptSocket: socketId, stream: conversationStream(conversationId) });
    return { conversationId };
  }

  async update(by: Principal, input: RoomUpdateInput, socketId?: SocketId): Promise<ConversationView> {
    const conversationId = asConversationId(input.conversationId);
    const { conversation, member } = await this.requireMember(by.tenantId, conversationId, by.userId);
    if (conversation.type === 'direct') throw new SwitchboardError('FORBIDDEN', 'A direct conversation cannot be changed', { conversationId });
    if (rank[member.role] < rank.admin) throw new SwitchboardError('FORBIDDEN', 'Only owners and admins can update a conversation', { conversationId });
    if ((input.promote?.length || input.demote?.length) && member.role !== 'owner') {
      throw new SwitchboardError('FORBIDDEN', 'Only the owner can change roles', { conversationId });
    }
    const now = new Date(this.clock.now()).toISOString();
    const before = await this.store.listMembers(by.tenantId, conversationId);
    const roles = new Map(before.map((m) => [m.userId, m.role]));
    const toRemove = (input.removeMembers ?? []).map(asUserId);
    if (toRemove.some((u) => roles.get(u) === 'owner')) throw new SwitchboardError('FORBIDDEN', 'The owner cannot be removed', { conversationId });
    if (member.role !== 'owner' && toRemove.some((u) => roles.get(u) === 'admin')) {
      throw new SwitchboardError('FORBIDDEN', 'Only the owner can remove an admin', { conversationId });
    }

    let updated = conversation;
    if (input.name !== undefined || input.isPublic !== undefined || input.metadata !== undefined) {
      updated = (await this.store.update(by.tenantId, conversationId, { name: input.name, isPublic: input.isPublic, metadata: input.metadata, updatedAt: now })) ?? conversation;
    }
    const added = await this.store.addMembers(
      by.tenantId,
      conversationId,
      (input.addMembers ?? []).map((u): Member => ({ userId: asUserId(u), role: 'member', joinedAt: now })),
    );
    const removed = await this.store.removeMembers(by.tenantId, conversationId, toRemove);
    for (const u of input.promote ?? []) if (roles.has(asUserId(u)) && roles.get(asUserId(u)) === 'member') await this.store.setRole(by.tenantId, conversationId, asUserId(u), 'admin');
    for (const u of input.demote ?? []) if (roles.get(asUserId(u)) === 'admin') await this.store.setRole(by.tenantId, conversationId, asUserId(u), 'member');

    await this.changed(conversation, added.map((m) => m.userId), removed);
    const members = await this.store.listMembers(by.tenantId, conversationId);
    const env = this.envelopes.create(by.tenantId, 'event', 'room:updated', {
      conversation: updated,
      members,
      added: added.map((m) => m.userId),
      removed,
      by: by.userId,
    });
    await this.router.toUsers(by.tenantId, [...members.map((m) => m.userId), ...removed], env, { exceptSocket: socketId, stream: conversationStream(conversationId) });
    return { conversation: updated, members };
  }

  /**
   * After any change to a conversation or its members: every server drops what it cached
   * about it, and a broadcast channel's topic gains and loses the members' sockets, before
   * the change is acknowledged (docs/decisions/001).
   */
  private changed(conversation: Conversation, joined: UserId[], left: UserId[]): Promise<void> {
    const { tenantId, id } = conversation;
    this.cache.invalidate(tenantId, id);
    return this.router.membershipChanged({
      tenantId,
      conversationId: id,
      topic: conversation.type === 'channel' ? channelTopic(tenantId, id) : undefined,
      joined,
      left,
    });
  }
}

import type { ConversationId, TenantId, UserId } from '../domain/ids.js';
import type { Conversation, Member, MemberRole, Metadata } from '../domain/model.js';

/** A conversation as created: `updatedAt` starts equal to `createdAt`. */
export type NewConversation = Omit<Conversation, 'updatedAt'>;

export interface ConversationPatch {
  name?: string | null;
  isPublic?: boolean;
  metadata?: Metadata;
  updatedAt: string;
}

/**
 * Conversations and their membership, scoped by tenant: no method reaches another
 * tenant's rows.
 *
 * Guarantees: every write is atomic and durable when its promise resolves. A direct
 * conversation is unique per pair of users: `create` of a second one for the same pair
 * returns the first with `created: false`.
 */
export interface ConversationStore {
  create(conversation: NewConversation, members: Member[]): Promise<{ conversation: Conversation; created: boolean }>;
  get(tenantId: TenantId, id: ConversationId): Promise<Conversation | null>;
  update(tenantId: TenantId, id: ConversationId, patch: ConversationPatch): Promise<Conversation | null>;
  getMember(tenantId: TenantId, id: ConversationId, userId: UserId): Promise<Member | null>;
  listMembers(tenantId: TenantId, id: ConversationId): Promise<Member[]>;
  /** Adds the users who are not members yet and returns those added. */
  addMembers(tenantId: TenantId, id: ConversationId, members: Member[]): Promise<Member[]>;
  /** Removes the users who are members and returns those removed. */
  removeMembers(tenantId: TenantId, id: ConversationId, userIds: UserId[]): Promise<UserId[]>;
  setRole(tenantId: TenantId, id: ConversationId, userId: UserId, role: MemberRole): Promise<void>;
  /** The user's conversations, newest first. */
  listForUser(tenantId: TenantId, userId: UserId): Promise<Conversation[]>;
}

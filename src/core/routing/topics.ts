import type { ConversationId, TenantId, UserId } from '../../domain/ids.js';

/*
 * Topic names. The tenant comes first and is closed by '/', a character ids cannot
 * contain, so no id can forge another tenant's topic.
 */
export const tenantTopic = (tenantId: TenantId): string => `t/${tenantId}/tenant`;
export const presenceTopic = (tenantId: TenantId, userId: UserId): string => `t/${tenantId}/presence:${userId}`;
/** The sockets of a broadcast channel's members, which receive its messages through it. */
export const channelTopic = (tenantId: TenantId, conversationId: ConversationId): string => `t/${tenantId}/channel:${conversationId}`;

/*
 * Inbox stream keys (`Inbox.append`): the sequence an event belongs to, whose consecutive
 * events an inbox may keep together for a user. A prefix keeps each kind apart from the
 * others and from conversation ids.
 */
export const conversationStream = (conversationId: ConversationId): string => `conversation:${conversationId}`;
/** Read receipts reach a few members only: a stream of their own keeps the conversation's consecutive for the others. */
export const receiptStream = (conversationId: ConversationId): string => `read:${conversationId}`;
export const userStream = (userId: UserId): string => `user:${userId}`;

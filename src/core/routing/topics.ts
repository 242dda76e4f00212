import type { ConversationId, TenantId, UserId } from '../../domain/ids.js';

/*
 * Topic names. The tenant comes first and is closed by '/', a character ids cannot
 * contain, so no id can forge another tenant's topic.
 */
export const tenantTopic = (tenantId: TenantId): string => `t/${tenantId}/tenant`;
export const presenceTopic = (tenantId: TenantId, userId: UserId): string => `t/${tenantId}/presence:${userId}`;
/** The sockets of a broadcast channel's members, which receive its messages through it. */
export const channelTopic = (tenantId: TenantId, conversationId: ConversationId): string => `t/${tenantId}/channel:${conversationId}`;

import type { TenantId, UserId } from '../../domain/ids.js';

/*
 * Topic names. The tenant comes first and is closed by '/', a character ids cannot
 * contain, so no id can forge another tenant's topic.
 */
export const tenantTopic = (tenantId: TenantId): string => `t/${tenantId}/tenant`;
export const presenceTopic = (tenantId: TenantId, userId: UserId): string => `t/${tenantId}/presence:${userId}`;

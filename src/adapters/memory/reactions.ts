import type { UserId } from '../../domain/ids.js';
import type { Reaction } from '../../domain/model.js';

/** Applies one user's reaction change to a list of aggregated reactions. */
export function applyReaction(reactions: Reaction[], userId: UserId, emoji: string, op: 'add' | 'remove'): Reaction[] {
  const next = reactions.map((r) => ({ emoji: r.emoji, userIds: [...r.userIds] }));
  const entry = next.find((r) => r.emoji === emoji);
  if (op === 'add') {
    if (!entry) next.push({ emoji, userIds: [userId] });
    else if (!entry.userIds.includes(userId)) entry.userIds.push(userId);
    return next;
  }
  if (entry) entry.userIds = entry.userIds.filter((u) => u !== userId);
  return next.filter((r) => r.userIds.length > 0);
}

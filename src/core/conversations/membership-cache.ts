import type { ConversationId, TenantId, UserId } from '../../domain/ids.js';
import type { Conversation, Member } from '../../domain/model.js';
import type { ConversationStore } from '../../ports/conversation-store.js';

interface Entry {
  conversation: Conversation;
  members: Map<UserId, Member>;
}

/**
 * The conversations and memberships the message path reads on every event (who may send,
 * who receives), kept in memory. Every membership or conversation change in the cluster
 * drops the entry on every server before the change is acknowledged (see
 * ConversationService), so a read never sees a change undone. Least recently used entries
 * leave first; unknown conversations are not cached.
 */
export class MembershipCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry | null>>();

  constructor(
    private readonly store: ConversationStore,
    private readonly maxEntries: number,
  ) {}

  async conversation(tenantId: TenantId, id: ConversationId): Promise<Conversation | null> {
    return (await this.entry(tenantId, id))?.conversation ?? null;
  }

  async member(tenantId: TenantId, id: ConversationId, userId: UserId): Promise<Member | null> {
    return (await this.entry(tenantId, id))?.members.get(userId) ?? null;
  }

  async memberIds(tenantId: TenantId, id: ConversationId): Promise<UserId[]> {
    return [...((await this.entry(tenantId, id))?.members.keys() ?? [])];
  }

  invalidate(tenantId: TenantId, id: ConversationId): void {
    const k = key(tenantId, id);
    this.entries.delete(k);
    this.loading.delete(k);
  }

  /** Forgets everything, e.g. after changes from other servers may have been missed. */
  clear(): void {
    this.entries.clear();
    this.loading.clear();
  }

  private async entry(tenantId: TenantId, id: ConversationId): Promise<Entry | null> {
    const k = key(tenantId, id);
    const hit = this.entries.get(k);
    if (hit) {
      // Re-insert: a Map keeps insertion order, so the first key is the least recently used.
      this.entries.delete(k);
      this.entries.set(k, hit);
      return hit;
    }
    let load = this.loading.get(k);
    if (!load) {
      load = this.load(tenantId, id);
      this.loading.set(k, load);
    }
    const loaded = await load;
    // Only the load that is still current fills the cache: an invalidation meanwhile wins.
    if (this.loading.get(k) === load) {
      this.loading.delete(k);
      if (loaded) this.remember(k, loaded);
    }
    return loaded;
  }

  private async load(tenantId: TenantId, id: ConversationId): Promise<Entry | null> {
    const [conversation, members] = await Promise.all([this.store.get(tenantId, id), this.store.listMembers(tenantId, id)]);
    if (!conversation) return null;
    return { conversation, members: new Map(members.map((m) => [m.userId, m])) };
  }

  private remember(k: string, entry: Entry): void {
    this.entries.set(k, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

const key = (tenantId: TenantId, id: ConversationId): string => `${tenantId}/${id}`;

import type { ConversationId, TenantId, UserId } from '../../domain/ids.js';
import type { Conversation, Member, MemberRole } from '../../domain/model.js';
import type { ConversationPatch, ConversationStore, NewConversation } from '../../ports/conversation-store.js';

interface Row {
  conversation: Conversation;
  members: Map<UserId, Member>;
}

const key = (t: TenantId, id: ConversationId): string => `${t}/${id}`;
const directKey = (t: TenantId, a: UserId, b: UserId): string => `${t}/${[a, b].sort().join('\u0000')}`;
const copy = (c: Conversation): Conversation => ({ ...c, metadata: { ...c.metadata } });

/** In-memory conversations and membership; state lives as long as the process. */
export class MemoryConversationStore implements ConversationStore {
  private readonly rows = new Map<string, Row>();
  private readonly directs = new Map<string, ConversationId>();

  async create(c: NewConversation, members: Member[]): Promise<{ conversation: Conversation; created: boolean }> {
    if (c.type === 'direct') {
      const dk = directKey(c.tenantId, members[0]!.userId, members[1]!.userId);
      const existing = this.directs.get(dk);
      if (existing) return { conversation: copy(this.rows.get(key(c.tenantId, existing))!.conversation), created: false };
      this.directs.set(dk, c.id);
    }
    const conversation: Conversation = { ...c, updatedAt: c.createdAt };
    this.rows.set(key(c.tenantId, c.id), { conversation, members: new Map(members.map((m) => [m.userId, { ...m }])) });
    return { conversation: copy(conversation), created: true };
  }

  async get(t: TenantId, id: ConversationId): Promise<Conversation | null> {
    const row = this.rows.get(key(t, id));
    return row ? copy(row.conversation) : null;
  }

  async update(t: TenantId, id: ConversationId, patch: ConversationPatch): Promise<Conversation | null> {
    const row = this.rows.get(key(t, id));
    if (!row) return null;
    const c = row.conversation;
    if (patch.name !== undefined) c.name = patch.name;
    if (patch.isPublic !== undefined) c.isPublic = patch.isPublic;
    if (patch.metadata !== undefined) c.metadata = { ...patch.metadata };
    c.updatedAt = patch.updatedAt;
    return copy(c);
  }

  async getMember(t: TenantId, id: ConversationId, userId: UserId): Promise<Member | null> {
    const m = this.rows.get(key(t, id))?.members.get(userId);
    return m ? { ...m } : null;
  }

  async listMembers(t: TenantId, id: ConversationId): Promise<Member[]> {
    return [...(this.rows.get(key(t, id))?.members.values() ?? [])].map((m) => ({ ...m }));
  }

  async addMembers(t: TenantId, id: ConversationId, members: Member[]): Promise<Member[]> {
    const row = this.rows.get(key(t, id));
    if (!row) return [];
    const added = members.filter((m) => !row.members.has(m.userId));
    for (const m of added) row.members.set(m.userId, { ...m });
    return added;
  }

  async removeMembers(t: TenantId, id: ConversationId, userIds: UserId[]): Promise<UserId[]> {
    const row = this.rows.get(key(t, id));
    if (!row) return [];
    return [...new Set(userIds)].filter((u) => row.members.delete(u));
  }

  async setRole(t: TenantId, id: ConversationId, userId: UserId, role: MemberRole): Promise<void> {
    const m = this.rows.get(key(t, id))?.members.get(userId);
    if (m) m.role = role;
  }

  async listForUser(t: TenantId, userId: UserId): Promise<Conversation[]> {
    return [...this.rows.values()]
      .filter((r) => r.conversation.tenantId === t && r.members.has(userId))
      .map((r) => copy(r.conversation))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  }
}

import type { ConversationId, TenantId, UserId } from '../../domain/ids.js';
import { asConversationId, asUserId } from '../../domain/ids.js';
import type { Conversation, ConversationType, Member, MemberRole } from '../../domain/model.js';
import type { ConversationPatch, ConversationStore, NewConversation } from '../../ports/conversation-store.js';
import type { SqliteDatabase } from './sqlite-database.js';

interface ConversationRow {
  tenant_id: string;
  id: string;
  type: ConversationType;
  name: string | null;
  is_public: number;
  metadata: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

interface MemberRow {
  user_id: string;
  role: MemberRole;
  joined_at: string;
}

const toConversation = (r: ConversationRow): Conversation => ({
  tenantId: r.tenant_id as TenantId,
  id: asConversationId(r.id),
  type: r.type,
  name: r.name,
  isPublic: r.is_public === 1,
  metadata: JSON.parse(r.metadata) as Conversation['metadata'],
  createdBy: asUserId(r.created_by),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});
const toMember = (r: MemberRow): Member => ({ userId: asUserId(r.user_id), role: r.role, joinedAt: r.joined_at });

/** Conversations and membership in SQLite. */
export class SqliteConversationStore implements ConversationStore {
  private readonly q;

  constructor(private readonly db: SqliteDatabase) {
    this.q = {
      insert: db.prepare(
        `INSERT INTO conversations (tenant_id, id, type, name, is_public, metadata, created_by, created_at, updated_at, direct_key)
         VALUES (@tenantId, @id, @type, @name, @isPublic, @metadata, @createdBy, @createdAt, @createdAt, @directKey)
         ON CONFLICT DO NOTHING`,
      ),
      byDirectKey: db.prepare<[string, string], ConversationRow>('SELECT * FROM conversations WHERE tenant_id = ? AND direct_key = ?'),
      get: db.prepare<[string, string], ConversationRow>('SELECT * FROM conversations WHERE tenant_id = ? AND id = ?'),
      update: db.prepare(
        `UPDATE conversations SET name = coalesce(@name, name), is_public = coalesce(@isPublic, is_public),
           metadata = coalesce(@metadata, metadata), updated_at = @updatedAt WHERE tenant_id = @tenantId AND id = @id`,
      ),
      member: db.prepare<[string, string, string], MemberRow>('SELECT user_id, role, joined_at FROM members WHERE tenant_id = ? AND conversation_id = ? AND user_id = ?'),
      members: db.prepare<[string, string], MemberRow>('SELECT user_id, role, joined_at FROM members WHERE tenant_id = ? AND conversation_id = ? ORDER BY joined_at, user_id'),
      addMember: db.prepare('INSERT INTO members (tenant_id, conversation_id, user_id, role, joined_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      removeMember: db.prepare('DELETE FROM members WHERE tenant_id = ? AND conversation_id = ? AND user_id = ?'),
      setRole: db.prepare('UPDATE members SET role = ? WHERE tenant_id = ? AND conversation_id = ? AND user_id = ?'),
      // Without statistics SQLite would walk the primary key's tenant prefix: every membership of the tenant.
      forUser: db.prepare<[string, string], ConversationRow>(
        `SELECT c.* FROM members m INDEXED BY members_by_user JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
         WHERE m.tenant_id = ? AND m.user_id = ? ORDER BY c.created_at DESC, c.id DESC`,
      ),
    };
  }

  async create(c: NewConversation, members: Member[]): Promise<{ conversation: Conversation; created: boolean }> {
    const directKey = c.type === 'direct' ? [members[0]!.userId, members[1]!.userId].sort().join('\u0000') : null;
    return this.db.transaction(() => {
      const inserted = this.q.insert.run({ ...c, isPublic: c.isPublic ? 1 : 0, metadata: JSON.stringify(c.metadata), directKey }).changes === 1;
      if (!inserted && directKey !== null) {
        return { conversation: toConversation(this.q.byDirectKey.get(c.tenantId, directKey)!), created: false };
      }
      for (const m of members) this.q.addMember.run(c.tenantId, c.id, m.userId, m.role, m.joinedAt);
      return { conversation: toConversation(this.q.get.get(c.tenantId, c.id)!), created: true };
    }).immediate();
  }

  async get(t: TenantId, id: ConversationId): Promise<Conversation | null> {
    const row = this.q.get.get(t, id);
    return row ? toConversation(row) : null;
  }

  async update(t: TenantId, id: ConversationId, patch: ConversationPatch): Promise<Conversation | null> {
    const rawName = patch.name;
    this.q.update.run({
      tenantId: t,
      id,
      name: rawName ?? null,
      isPublic: patch.isPublic === undefined ? null : patch.isPublic ? 1 : 0,
      metadata: patch.metadata === undefined ? null : JSON.stringify(patch.metadata),
      updatedAt: patch.updatedAt,
    });
    return this.get(t, id);
  }

  async getMember(t: TenantId, id: ConversationId, userId: UserId): Promise<Member | null> {
    const row = this.q.member.get(t, id, userId);
    return row ? toMember(row) : null;
  }

  async listMembers(t: TenantId, id: ConversationId): Promise<Member[]> {
    return this.q.members.all(t, id).map(toMember);
  }

  async addMembers(t: TenantId, id: ConversationId, members: Member[]): Promise<Member[]> {
    if (!this.q.get.get(t, id)) return [];
    return this.db.transaction(() => members.filter((m) => this.q.addMember.run(t, id, m.userId, m.role, m.joinedAt).changes === 1)).immediate();
  }

  async removeMembers(t: TenantId, id: ConversationId, userIds: UserId[]): Promise<UserId[]> {
    return this.db.transaction(() => [...new Set(userIds)].filter((u) => this.q.removeMember.run(t, id, u).changes === 1)).immediate();
  }

  async setRole(t: TenantId, id: ConversationId, userId: UserId, role: MemberRole): Promise<void> {
    this.q.setRole.run(role, t, id, userId);
  }

  async listForUser(t: TenantId, userId: UserId): Promise<Conversation[]> {
    return this.q.forUser.all(t, userId).map(toConversation);
  }
}

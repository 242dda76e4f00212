import { asConversationId, asTenantId, asUserId, type ConversationId, type TenantId, type UserId } from '../../domain/ids.js';
import { SwitchboardError } from '../../domain/errors.js';
import type { Conversation, ConversationType, Member, MemberRole, Metadata } from '../../domain/model.js';
import type { ConversationPatch, ConversationStore, NewConversation } from '../../ports/conversation-store.js';
import { inTransaction, type PostgresPool } from './postgres-database.js';

interface ConversationRow {
  tenant_id: string;
  id: string;
  type: ConversationType;
  name: string | null;
  is_public: boolean;
  metadata: Metadata;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

interface MemberRow {
  user_id: string;
  role: MemberRole;
  joined_at: Date;
}

const toConversation = (r: ConversationRow): Conversation => ({
  tenantId: asTenantId(r.tenant_id),
  id: asConversationId(r.id),
  type: r.type,
  name: r.name,
  isPublic: r.is_public,
  metadata: r.metadata,
  createdBy: asUserId(r.created_by),
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});
const toMember = (r: MemberRow): Member => ({ userId: asUserId(r.user_id), role: r.role, joinedAt: r.joined_at.toISOString() });

/** Conversations and membership in PostgreSQL. */
export class PostgresConversationStore implements ConversationStore {
  constructor(private readonly pool: PostgresPool) {}

  async create(c: NewConversation, members: Member[]): Promise<{ conversation: Conversation; created: boolean }> {
    const pair = c.type === 'direct' ? [members[0]!.userId, members[1]!.userId].sort() : [null, null];
    return inTransaction(this.pool, async (client) => {
      // A second direct conversation of the same pair conflicts, also with one being created
      // concurrently: the insert waits for that transaction and, once it commits, does nothing.
      const { rows } = await client.query<ConversationRow>(
        `INSERT INTO conversations (tenant_id, id, type, name, is_public, metadata, created_by, created_at, updated_at, direct_user_a, direct_user_b)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)
         ON CONFLICT DO NOTHING RETURNING *`,
        [c.tenantId, c.id, c.type, c.name, c.isPublic, JSON.stringify(c.metadata), c.createdBy, c.createdAt, pair[0], pair[1]],
      );
      if (rows[0]) {
        await insertMembers(client, c.tenantId, c.id, members);
        return { conversation: toConversation(rows[0]), created: true };
      }
      const existing = await client.query<ConversationRow>(
        'SELECT * FROM conversations WHERE tenant_id = $1 AND direct_user_a = $2 AND direct_user_b = $3',
        [c.tenantId, pair[0], pair[1]],
      );
      if (!existing.rows[0]) throw new SwitchboardError('CONFLICT', 'A conversation with this id already exists', { conversationId: c.id });
      return { conversation: toConversation(existing.rows[0]), created: false };
    });
  }

  async get(t: TenantId, id: ConversationId): Promise<Conversation | null> {
    const { rows } = await this.pool.query<ConversationRow>('SELECT * FROM conversations WHERE tenant_id = $1 AND id = $2', [t, id]);
    return rows[0] ? toConversation(rows[0]) : null;
  }

  async update(t: TenantId, id: ConversationId, patch: ConversationPatch): Promise<Conversation | null> {
    // A field the patch does not name is bound as "keep": `name` may be set to null on purpose.
    const { rows } = await this.pool.query<ConversationRow>(
      `UPDATE conversations SET
         name = CASE WHEN $3 THEN $4 ELSE name END,
         is_public = coalesce($5, is_public),
         metadata = coalesce($6::jsonb, metadata),
         updated_at = $7
       WHERE tenant_id = $1 AND id = $2 RETURNING *`,
      [t, id, patch.name !== undefined, patch.name ?? null, patch.isPublic ?? null, patch.metadata === undefined ? null : JSON.stringify(patch.metadata), patch.updatedAt],
    );
    return rows[0] ? toConversation(rows[0]) : null;
  }

  async getMember(t: TenantId, id: ConversationId, userId: UserId): Promise<Member | null> {
    const { rows } = await this.pool.query<MemberRow>(
      'SELECT user_id, role, joined_at FROM members WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = $3',
      [t, id, userId],
    );
    return rows[0] ? toMember(rows[0]) : null;
  }

  async listMembers(t: TenantId, id: ConversationId): Promise<Member[]> {
    const { rows } = await this.pool.query<MemberRow>(
      'SELECT user_id, role, joined_at FROM members WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY joined_at, user_id COLLATE "C"',
      [t, id],
    );
    return rows.map(toMember);
  }

  async addMembers(t: TenantId, id: ConversationId, members: Member[]): Promise<Member[]> {
    const added = new Set(await insertMembers(this.pool, t, id, members));
    // The first entry of each user added (a user listed twice is added once).
    return members.filter((m) => added.delete(m.userId));
  }

  async removeMembers(t: TenantId, id: ConversationId, userIds: UserId[]): Promise<UserId[]> {
    const { rows } = await this.pool.query<{ user_id: string }>(
      'DELETE FROM members WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = ANY($3) RETURNING user_id',
      [t, id, userIds],
    );
    const removed = new Set(rows.map((r) => r.user_id));
    return [...new Set(userIds)].filter((u) => removed.has(u));
  }

  async setRole(t: TenantId, id: ConversationId, userId: UserId, role: MemberRole): Promise<void> {
    await this.pool.query('UPDATE members SET role = $4 WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = $3', [t, id, userId, role]);
  }

  async listForUser(t: TenantId, userId: UserId): Promise<Conversation[]> {
    const { rows } = await this.pool.query<ConversationRow>(
      `SELECT c.* FROM members m JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
       WHERE m.tenant_id = $1 AND m.user_id = $2 ORDER BY c.created_at DESC, c.id COLLATE "C" DESC`,
      [t, userId],
    );
    return rows.map(toConversation);
  }
}

/**
 * Adds the members not in the conversation yet, in one statement, and returns their user
 * ids; nobody is added to a conversation that does not exist.
 */
async function insertMembers(db: Pick<PostgresPool, 'query'>, t: TenantId, id: ConversationId, members: Member[]): Promise<string[]> {
  if (members.length === 0) return [];
  const { rows } = await db.query<{ user_id: string }>(
    `INSERT INTO members (tenant_id, conversation_id, user_id, role, joined_at)
     SELECT $1, $2, m.user_id, m.role, m.joined_at FROM unnest($3::text[], $4::text[], $5::timestamptz[]) AS m (user_id, role, joined_at)
     WHERE EXISTS (SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2)
     ON CONFLICT DO NOTHING RETURNING user_id`,
    [t, id, members.map((m) => m.userId), members.map((m) => m.role), members.map((m) => m.joinedAt)],
  );
  return rows.map((r) => r.user_id);
}

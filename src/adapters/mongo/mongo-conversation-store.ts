import type { AnyBulkWriteOperation, Db } from 'mongodb';
import type { ConversationId, TenantId, UserId } from '../../domain/ids.js';
import type { Conversation, Member, MemberRole } from '../../domain/model.js';
import type { ConversationPatch, ConversationStore, NewConversation } from '../../ports/conversation-store.js';
import { bulkUpsert, collectionsOf, isDuplicateKeyError, type MongoCollections } from './mongo-database.js';
import { fromConversationDocument, fromMemberDocument, toConversationDocument, type ConversationDocument, type MemberDocument } from './mongo-documents.js';

/**
 * Conversations and membership in MongoDB: one document per conversation, one per member
 * (a channel's members would not fit in one document).
 *
 * Without multi-document transactions (a standalone server has none), `create` writes the
 * members first and the conversation last: the conversation document is the commit point.
 * Until it exists nothing can reach the members (the id is new, and `listForUser` goes
 * through conversations), and a crash in between leaves only unreachable member documents,
 * never a conversation without its members — which for a direct one would hold its pair.
 */
export class MongoConversationStore implements ConversationStore {
  private readonly c: MongoCollections;

  constructor(db: Db) {
    this.c = collectionsOf(db);
  }

  async create(c: NewConversation, members: Member[]): Promise<{ conversation: Conversation; created: boolean }> {
    const doc = toConversationDocument(c, members);
    if (doc.directKey !== undefined) {
      const existing = await this.byDirectKey(c.tenantId, doc.directKey);
      if (existing) return { conversation: existing, created: false };
    }
    await this.upsertMembers(c.tenantId, c.id, members);
    try {
      await this.c.conversations.insertOne({ ...doc });
    } catch (err) {
      // Another create of the same pair won the race: its conversation is the one, ours goes.
      const winner = isDuplicateKeyError(err) && doc.directKey !== undefined ? await this.byDirectKey(c.tenantId, doc.directKey) : null;
      if (!winner) throw err;
      if (winner.id !== c.id) await this.c.members.deleteMany({ tenantId: c.tenantId, conversationId: c.id });
      return { conversation: winner, created: false };
    }
    return { conversation: fromConversationDocument(doc), created: true };
  }

  async get(t: TenantId, id: ConversationId): Promise<Conversation | null> {
    const doc = await this.c.conversations.findOne({ tenantId: t, id });
    return doc ? fromConversationDocument(doc) : null;
  }

  async update(t: TenantId, id: ConversationId, patch: ConversationPatch): Promise<Conversation | null> {
    const set: Partial<Pick<ConversationDocument, 'name' | 'isPublic' | 'metadata' | 'updatedAt'>> = { updatedAt: patch.updatedAt };
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.isPublic !== undefined) set.isPublic = patch.isPublic;
    if (patch.metadata !== undefined) set.metadata = patch.metadata;
    const doc = await this.c.conversations.findOneAndUpdate({ tenantId: t, id }, { $set: set }, { returnDocument: 'after' });
    return doc ? fromConversationDocument(doc) : null;
  }

  async getMember(t: TenantId, id: ConversationId, userId: UserId): Promise<Member | null> {
    const doc = await this.c.members.findOne({ tenantId: t, conversationId: id, userId });
    return doc ? fromMemberDocument(doc) : null;
  }

  async listMembers(t: TenantId, id: ConversationId): Promise<Member[]> {
    const docs = await this.c.members.find({ tenantId: t, conversationId: id }).sort({ joinedAt: 1, userId: 1 }).toArray();
    return docs.map(fromMemberDocument);
  }

  async addMembers(t: TenantId, id: ConversationId, members: Member[]): Promise<Member[]> {
    if ((await this.c.conversations.countDocuments({ tenantId: t, id }, { limit: 1 })) === 0) return [];
    const added = await this.upsertMembers(t, id, members);
    return members.filter((_, i) => added.has(i));
  }

  async removeMembers(t: TenantId, id: ConversationId, userIds: UserId[]): Promise<UserId[]> {
    const unique = [...new Set(userIds)];
    // One delete per user: its count says whether this call, and no concurrent one, removed them.
    const results = await Promise.all(unique.map((userId) => this.c.members.deleteOne({ tenantId: t, conversationId: id, userId })));
    return unique.filter((_, i) => results[i]!.deletedCount === 1);
  }

  async setRole(t: TenantId, id: ConversationId, userId: UserId, role: MemberRole): Promise<void> {
    await this.c.members.updateOne({ tenantId: t, conversationId: id, userId }, { $set: { role } });
  }

  async listForUser(t: TenantId, userId: UserId): Promise<Conversation[]> {
    const ids = await this.c.members.distinct('conversationId', { tenantId: t, userId });
    if (ids.length === 0) return [];
    const docs = await this.c.conversations.find({ tenantId: t, id: { $in: ids } }).sort({ createdAt: -1, id: -1 }).toArray();
    return docs.map(fromConversationDocument);
  }

  private async byDirectKey(t: TenantId, directKey: string): Promise<Conversation | null> {
    const doc = await this.c.conversations.findOne({ tenantId: t, directKey });
    return doc ? fromConversationDocument(doc) : null;
  }

  /** Inserts the members not there yet; returns the indexes (into `members`) of those inserted. */
  private upsertMembers(t: TenantId, id: ConversationId, members: readonly Member[]): Promise<Set<number>> {
    const ops = members.map((m): AnyBulkWriteOperation<MemberDocument> => ({
      updateOne: {
        filter: { tenantId: t, conversationId: id, userId: m.userId },
        update: { $setOnInsert: { role: m.role, joinedAt: m.joinedAt } },
        upsert: true,
      },
    }));
    return bulkUpsert(this.c.members, ops);
  }
}

import type { AnyBulkWriteOperation, Db, Filter } from 'mongodb';
import type { ConversationId, MessageId, Seq, TenantId, UserId } from '../../domain/ids.js';
import { asUserId } from '../../domain/ids.js';
import type { Message, Metadata, ReadCursor } from '../../domain/model.js';
import type { HistoryQuery, MessageStore } from '../../ports/message-store.js';
import { bulkUpsert, collectionsOf, isDuplicateKeyError, type MongoCollections } from './mongo-database.js';
import { fromMessageDocument, fromReadCursorDocument, toMessageDocument, type MessageDocument, type ReadCursorDocument } from './mongo-documents.js';

/**
 * Messages, reactions and read cursors in MongoDB: one document per message, its reactions
 * inside it, and one document per read cursor. Every change to a message is one atomic
 * single-document update.
 */
export class MongoMessageStore implements MessageStore {
  private readonly c: MongoCollections;

  constructor(db: Db) {
    this.c = collectionsOf(db);
  }

  /**
   * One upsert per message that only sets fields on insert, so a stored message keeps its
   * edits, deletion and reactions. A message whose seq or client message id is taken by
   * another is "already stored" too, as in the SQL stores. Reactions come through `react` only.
   */
  async insert(messages: readonly Message[]): Promise<number> {
    const ops = messages.map((m): AnyBulkWriteOperation<MessageDocument> => {
      const { tenantId, conversationId, id, ...rest } = toMessageDocument(m);
      return { updateOne: { filter: { tenantId, conversationId, id }, update: { $setOnInsert: { ...rest, reactions: [] } }, upsert: true } };
    });
    return (await bulkUpsert(this.c.messages, ops)).size;
  }

  async get(t: TenantId, c: ConversationId, id: MessageId): Promise<Message | null> {
    const doc = await this.c.messages.findOne(byId(t, c, id));
    return doc ? fromMessageDocument(doc) : null;
  }

  async edit(t: TenantId, c: ConversationId, id: MessageId, content: string, metadata: Metadata | undefined, at: string): Promise<Message | null> {
    const set: Partial<Pick<MessageDocument, 'content' | 'metadata' | 'editedAt'>> = { content, editedAt: at };
    if (metadata !== undefined) set.metadata = metadata;
    const doc = await this.c.messages.findOneAndUpdate(byId(t, c, id), { $set: set }, { returnDocument: 'after' });
    return doc ? fromMessageDocument(doc) : null;
  }

  async markDeleted(t: TenantId, c: ConversationId, id: MessageId, at: string): Promise<Message | null> {
    // A pipeline update, to keep the first deletion time in the same atomic write. Values are
    // `$literal` so that no string is read as a field path and `{}` is not an empty expression.
    const doc = await this.c.messages.findOneAndUpdate(
      byId(t, c, id),
      [{
        $set: {
          content: { $literal: '' },
          metadata: { $literal: {} },
          attachment: null,
          reactions: { $literal: [] },
          deletedAt: { $ifNull: ['$deletedAt', { $literal: at }] },
        },
      }],
      { returnDocument: 'after' },
    );
    return doc ? fromMessageDocument(doc) : null;
  }

  async react(t: TenantId, c: ConversationId, id: MessageId, userId: UserId, emoji: string, op: 'add' | 'remove'): Promise<Message | null> {
    // Field order matters to $addToSet's equality: entries are always { emoji, userId }.
    const entry = { emoji, userId };
    const update = op === 'add' ? { $addToSet: { reactions: entry } } : { $pull: { reactions: entry } };
    const doc = await this.c.messages.findOneAndUpdate(byId(t, c, id), update, { returnDocument: 'after' });
    return doc ? fromMessageDocument(doc) : null;
  }

  /** `after` wins over `before` when both are given, as in the other stores; a limit below 1 is an empty page. */
  async page(t: TenantId, c: ConversationId, q: HistoryQuery): Promise<Message[]> {
    // The driver reads limit 0 as "no limit": guard it here.
    if (!(q.limit >= 1)) return [];
    const conversation = { tenantId: t, conversationId: c };
    if (q.after !== undefined) {
      const docs = await this.c.messages.find({ ...conversation, seq: { $gt: q.after } }).sort({ seq: 1 }).limit(q.limit).toArray();
      return docs.map(fromMessageDocument);
    }
    const filter: Filter<MessageDocument> = q.before === undefined ? conversation : { ...conversation, seq: { $lt: q.before } };
    const docs = await this.c.messages.find(filter).sort({ seq: -1 }).limit(q.limit).toArray();
    return docs.reverse().map(fromMessageDocument);
  }

  async sendersBetween(t: TenantId, c: ConversationId, fromSeq: Seq, toSeq: Seq): Promise<UserId[]> {
    const senders = await this.c.messages.distinct('senderId', { tenantId: t, conversationId: c, seq: { $gt: fromSeq, $lte: toSeq } });
    return senders.map(asUserId);
  }

  /**
   * One atomic upsert: the pipeline keeps the larger seq, and moves `updatedAt` only when seq
   * moves. Two first advances of the same cursor at once race on the unique index; the server
   * retries such an upsert itself (its filter is exactly that index's key), and if a duplicate
   * key still comes back, the cursor exists by then and one more try updates it.
   */
  async advanceReadCursor(t: TenantId, c: ConversationId, userId: UserId, seq: Seq, at: string): Promise<{ previous: Seq; current: Seq }> {
    const key: Filter<ReadCursorDocument> = { tenantId: t, conversationId: c, userId };
    if (!(seq > 0)) {
      // Nothing to move to: no write, and no cursor created at 0.
      const previous = (await this.c.readCursors.findOne(key))?.seq ?? 0;
      return { previous, current: previous };
    }
    const advance = () => this.c.readCursors.findOneAndUpdate(
      key,
      [{
        $set: {
          updatedAt: { $cond: [{ $lt: [{ $ifNull: ['$seq', 0] }, seq] }, { $literal: at }, '$updatedAt'] },
          seq: { $max: [{ $ifNull: ['$seq', 0] }, seq] },
        },
      }],
      { upsert: true, returnDocument: 'before' },
    );
    const before = await advance().catch((err: unknown) => {
      if (!isDuplicateKeyError(err)) throw err;
      return advance();
    });
    const previous = before?.seq ?? 0;
    return { previous, current: Math.max(previous, seq) };
  }

  async readCursors(t: TenantId, c: ConversationId): Promise<ReadCursor[]> {
    const docs = await this.c.readCursors.find({ tenantId: t, conversationId: c }).sort({ userId: 1 }).toArray();
    return docs.map(fromReadCursorDocument);
  }
}

const byId = (t: TenantId, c: ConversationId, id: MessageId): Filter<MessageDocument> => ({ tenantId: t, conversationId: c, id });

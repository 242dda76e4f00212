import type { ConversationId, MessageId, Seq, TenantId, UserId } from '../domain/ids.js';
import type { Message, Metadata, ReadCursor } from '../domain/model.js';

/** A message as sent: the store assigns `seq`; edits, deletion and reactions come later. */
export type NewMessage = Omit<Message, 'seq' | 'editedAt' | 'deletedAt' | 'reactions'>;

export interface HistoryQuery {
  /** Messages with seq < before (newest page when neither bound is given). */
  before?: Seq;
  /** Messages with seq > after. */
  after?: Seq;
  limit: number;
}

/**
 * Messages, reactions and read cursors, scoped by tenant.
 *
 * Guarantees:
 * - `append` assigns the conversation's next sequence number atomically: numbers are
 *   1, 2, 3… without gaps or repeats, in the order appends resolve.
 * - `append` is idempotent on (conversation, sender, clientMessageId): a repeat returns
 *   the stored message with `duplicate: true` and stores nothing.
 * - A resolved write is durable and immediately visible to `page` (read-after-write).
 * - Read cursors only move forward.
 */
export interface MessageStore {
  append(message: NewMessage): Promise<{ message: Message; duplicate: boolean }>;
  get(tenantId: TenantId, conversationId: ConversationId, id: MessageId): Promise<Message | null>;
  edit(tenantId: TenantId, conversationId: ConversationId, id: MessageId, content: string, metadata: Metadata | undefined, at: string): Promise<Message | null>;
  /** Clears content, metadata, attachment and reactions and stamps deletedAt. */
  markDeleted(tenantId: TenantId, conversationId: ConversationId, id: MessageId, at: string): Promise<Message | null>;
  /** Adds or removes one user's reaction; a repeat of the same change is a no-op. */
  react(tenantId: TenantId, conversationId: ConversationId, id: MessageId, userId: UserId, emoji: string, op: 'add' | 'remove', at: string): Promise<Message | null>;
  /** A page of messages in ascending seq order. */
  page(tenantId: TenantId, conversationId: ConversationId, query: HistoryQuery): Promise<Message[]>;
  /** The newest seq of each conversation (0 for an empty one). */
  lastSeqs(tenantId: TenantId, conversationIds: ConversationId[]): Promise<Map<ConversationId, Seq>>;
  /** Distinct senders of the messages with fromSeq < seq <= toSeq. */
  sendersBetween(tenantId: TenantId, conversationId: ConversationId, fromSeq: Seq, toSeq: Seq): Promise<UserId[]>;
  /** Moves the user's cursor forward to `seq` (never back); returns where it was and where it is. */
  advanceReadCursor(tenantId: TenantId, conversationId: ConversationId, userId: UserId, seq: Seq, at: string): Promise<{ previous: Seq; current: Seq }>;
  readCursors(tenantId: TenantId, conversationId: ConversationId): Promise<ReadCursor[]>;
}

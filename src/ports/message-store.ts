import type { ConversationId, MessageId, Seq, TenantId, UserId } from '../domain/ids.js';
import type { Message, Metadata, ReadCursor } from '../domain/model.js';

/** A message as sent: the sequencer assigns `seq`; edits, deletion and reactions come later. */
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
 * Messages arrive already numbered (see MessageSequencer), usually from the processor
 * that consumes the durable log, so writes may repeat and arrive in any order.
 *
 * Guarantees:
 * - `insert` is idempotent by message id: a message already stored is left as it is
 *   (edits, deletion and reactions made since are kept), so a replayed batch is harmless.
 * - A resolved write is durable and immediately visible to `page`.
 * - Read cursors only move forward.
 */
export interface MessageStore {
  /** Stores the messages not stored yet; returns how many were new. */
  insert(messages: readonly Message[]): Promise<number>;
  get(tenantId: TenantId, conversationId: ConversationId, id: MessageId): Promise<Message | null>;
  edit(tenantId: TenantId, conversationId: ConversationId, id: MessageId, content: string, metadata: Metadata | undefined, at: string): Promise<Message | null>;
  /** Clears content, metadata, attachment and reactions and stamps deletedAt. */
  markDeleted(tenantId: TenantId, conversationId: ConversationId, id: MessageId, at: string): Promise<Message | null>;
  /** Adds or removes one user's reaction; a repeat of the same change is a no-op. */
  react(tenantId: TenantId, conversationId: ConversationId, id: MessageId, userId: UserId, emoji: string, op: 'add' | 'remove', at: string): Promise<Message | null>;
  /** A page of messages in ascending seq order. */
  page(tenantId: TenantId, conversationId: ConversationId, query: HistoryQuery): Promise<Message[]>;
  /** Distinct senders of the messages with fromSeq < seq <= toSeq. */
  sendersBetween(tenantId: TenantId, conversationId: ConversationId, fromSeq: Seq, toSeq: Seq): Promise<UserId[]>;
  /** Moves the user's cursor forward to `seq` (never back); returns where it was and where it is. */
  advanceReadCursor(tenantId: TenantId, conversationId: ConversationId, userId: UserId, seq: Seq, at: string): Promise<{ previous: Seq; current: Seq }>;
  readCursors(tenantId: TenantId, conversationId: ConversationId): Promise<ReadCursor[]>;
}

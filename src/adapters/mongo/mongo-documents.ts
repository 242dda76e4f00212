import { Binary } from 'mongodb';
import { asConversationId, asMessageId, asTenantId, asUserId } from '../../domain/ids.js';
import type { Conversation, ConversationType, Member, MemberRole, Message, MessageType, Metadata, Reaction, ReadCursor } from '../../domain/model.js';
import type { NewConversation } from '../../ports/conversation-store.js';

/*
 * The documents the MongoDB stores keep, and their mapping to the domain. Times stay ISO
 * strings, as the domain has them, so a value reads back exactly as it was written (and
 * sorts the same way). `_id` is the driver's ObjectId and never leaves this adapter.
 */

export interface ConversationDocument {
  tenantId: string;
  id: string;
  type: ConversationType;
  name: string | null;
  isPublic: boolean;
  metadata: Metadata;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  /** Direct conversations only: the pair of members, in an order that does not depend on who created it. */
  directKey?: string;
}

export interface MemberDocument {
  tenantId: string;
  conversationId: string;
  userId: string;
  role: MemberRole;
  joinedAt: string;
}

/** One user's reaction. Kept flat in the message so `$addToSet` / `$pull` change it atomically and idempotently. */
export interface ReactionDocument {
  emoji: string;
  userId: string;
}

export interface MessageDocument {
  tenantId: string;
  conversationId: string;
  id: string;
  seq: number;
  senderId: string;
  clientMessageId: string;
  type: MessageType;
  content: string;
  metadata: Metadata;
  attachment: Binary | null;
  replyTo: string | null;
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  /** In the order they were made; the domain's per-emoji groups are derived on read. */
  reactions: ReactionDocument[];
}

export interface ReadCursorDocument {
  tenantId: string;
  conversationId: string;
  userId: string;
  seq: number;
  updatedAt: string;
}

/**
 * The key that makes a direct conversation unique per pair, whoever creates it: the two
 * user ids sorted, joined by NUL (which no id contains).
 */
export function directKeyOf(a: string, b: string): string {
  return [a, b].sort().join('\u0000');
}

/** The document of a new conversation; a direct one gets its pair key from its first two members. */
export function toConversationDocument(c: NewConversation, members: readonly Member[]): ConversationDocument {
  const doc: ConversationDocument = {
    tenantId: c.tenantId,
    id: c.id,
    type: c.type,
    name: c.name,
    isPublic: c.isPublic,
    metadata: c.metadata,
    createdBy: c.createdBy,
    createdAt: c.createdAt,
    updatedAt: c.createdAt,
  };
  if (c.type !== 'direct') return doc;
  const [a, b] = members;
  if (!a || !b) throw new Error(`direct conversation ${c.id} needs two members, got ${members.length}`);
  return { ...doc, directKey: directKeyOf(a.userId, b.userId) };
}

export function fromConversationDocument(d: ConversationDocument): Conversation {
  return {
    tenantId: asTenantId(d.tenantId),
    id: asConversationId(d.id),
    type: d.type,
    name: d.name,
    isPublic: d.isPublic,
    metadata: d.metadata,
    createdBy: asUserId(d.createdBy),
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

export function fromMemberDocument(d: MemberDocument): Member {
  return { userId: asUserId(d.userId), role: d.role, joinedAt: d.joinedAt };
}

/** The document of a message, reactions flattened to one entry per user and emoji. */
export function toMessageDocument(m: Message): MessageDocument {
  return {
    tenantId: m.tenantId,
    conversationId: m.conversationId,
    id: m.id,
    seq: m.seq,
    senderId: m.senderId,
    clientMessageId: m.clientMessageId,
    type: m.type,
    content: m.content,
    metadata: m.metadata,
    attachment: m.attachment === null ? null : new Binary(m.attachment),
    replyTo: m.replyTo,
    createdAt: m.createdAt,
    editedAt: m.editedAt,
    deletedAt: m.deletedAt,
    reactions: m.reactions.flatMap((r) => r.userIds.map((userId) => ({ emoji: r.emoji, userId }))),
  };
}

export function fromMessageDocument(d: MessageDocument): Message {
  return {
    tenantId: asTenantId(d.tenantId),
    conversationId: asConversationId(d.conversationId),
    id: asMessageId(d.id),
    seq: d.seq,
    senderId: asUserId(d.senderId),
    clientMessageId: d.clientMessageId,
    type: d.type,
    content: d.content,
    metadata: d.metadata,
    // A plain Uint8Array with its own bytes: `value()` is a view into the driver's buffer.
    attachment: d.attachment === null ? null : new Uint8Array(d.attachment.value()),
    replyTo: d.replyTo === null ? null : asMessageId(d.replyTo),
    createdAt: d.createdAt,
    editedAt: d.editedAt,
    deletedAt: d.deletedAt,
    reactions: groupReactions(d.reactions),
  };
}

/** Per-emoji groups in the order each emoji was first used; users in the order they reacted. */
export function groupReactions(entries: readonly ReactionDocument[]): Reaction[] {
  const groups = new Map<string, Reaction>();
  for (const { emoji, userId } of entries) {
    const group = groups.get(emoji);
    if (!group) groups.set(emoji, { emoji, userIds: [asUserId(userId)] });
    else if (!group.userIds.includes(asUserId(userId))) group.userIds.push(asUserId(userId));
  }
  return [...groups.values()];
}

export function fromReadCursorDocument(d: ReadCursorDocument): ReadCursor {
  return { userId: asUserId(d.userId), seq: d.seq, updatedAt: d.updatedAt };
}

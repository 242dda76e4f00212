import type { ConversationId, DeviceId, MessageId, Seq, TenantId, UserId } from './ids.js';

/** `direct`: exactly two members, one per pair. `group`: members chat. `channel`: admins broadcast, members read. */
export type ConversationType = 'direct' | 'group' | 'channel';
export type MemberRole = 'owner' | 'admin' | 'member';

export type Metadata = Record<string, unknown>;

export interface Conversation {
  tenantId: TenantId;
  id: ConversationId;
  type: ConversationType;
  name: string | null;
  /** A public conversation can be joined by any user of the tenant with `room:join`. */
  isPublic: boolean;
  metadata: Metadata;
  createdBy: UserId;
  createdAt: string;
  updatedAt: string;
}

export interface Member {
  userId: UserId;
  role: MemberRole;
  joinedAt: string;
}

export type MessageType = 'text' | 'media' | 'system' | 'custom';

export interface Reaction {
  emoji: string;
  userIds: UserId[];
}

export interface Message {
  tenantId: TenantId;
  conversationId: ConversationId;
  id: MessageId;
  seq: Seq;
  senderId: UserId;
  clientMessageId: string;
  type: MessageType;
  /** Empty once the message is deleted. */
  content: string;
  metadata: Metadata;
  /** Binary attachment, when the server allows binary payloads. */
  attachment: Uint8Array | null;
  replyTo: MessageId | null;
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  reactions: Reaction[];
}

export interface ReadCursor {
  userId: UserId;
  seq: Seq;
  updatedAt: string;
}

export type PresenceStatus = 'online' | 'away' | 'dnd' | 'offline';
/** A status a user can choose; `offline` is reached only by leaving. */
export type ChosenStatus = Exclude<PresenceStatus, 'offline'>;

export interface Presence {
  userId: UserId;
  status: PresenceStatus;
  customStatus: string | null;
  /** When the user was last connected (ISO time); null if never seen. */
  lastSeen: string | null;
  /** How many devices are connected now. */
  devices: number;
}

/** Who is on the other end of a socket. */
export interface Principal {
  tenantId: TenantId;
  userId: UserId;
  deviceId: DeviceId;
}

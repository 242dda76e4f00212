/**
 * The Switchboard wire protocol, version 1, as the client sees it (docs/protocol.md).
 * These types are the SDK's own copy: the package ships alone and never imports the server.
 */

/** Id of a conversation (1–128 characters of letters, digits and `_ - . @ : |`). */
export type ConversationId = string;
/** Id of a user within its tenant. */
export type UserId = string;
/** Server id of a message (a ULID). */
export type MessageId = string;
/** Per-conversation sequence number: 1, 2, 3… without gaps. */
export type Seq = number;
/** Position of an event in the user's inbox: 1, 2, 3… per user. */
export type InboxOffset = number;

/** The protocol version this SDK speaks (`auth.v`). */
export const PROTOCOL_VERSION = 1;

/** `message`: chat content. `event`: state changes and pushes. `error`: `server:error`. */
export type EnvelopeType = 'message' | 'event' | 'error';

/** Every server→client event is one envelope, emitted under the name `payload.action` (§2). */
export interface Envelope<D = unknown> {
  v: number;
  type: EnvelopeType;
  /** Unique id of this envelope; a resend or replay keeps it. */
  id: string;
  tenant_id: string;
  timestamp: number;
  payload: { action: string; data: D };
  /** Position in the user's inbox, only on events kept there (§12). */
  offset?: InboxOffset;
}

/** Error codes of the server (§7). */
export type ServerErrorCode =
  | 'AUTH_REQUIRED' | 'AUTH_INVALID' | 'AUTH_EXPIRED' | 'AUTH_MISMATCH' | 'API_KEY_INVALID'
  | 'PROTOCOL_UNSUPPORTED' | 'VALIDATION_FAILED' | 'PAYLOAD_TOO_LARGE' | 'UNKNOWN_EVENT'
  | 'ACK_REQUIRED' | 'RATE_LIMITED' | 'TOO_MANY_CONNECTIONS' | 'FORBIDDEN' | 'NOT_A_MEMBER'
  | 'NOT_FOUND' | 'CONFLICT' | 'UNAVAILABLE' | 'INTERNAL';

/** The error body of a refused event or handshake (§3.1). */
export interface ErrorBody {
  code: ServerErrorCode;
  message: string;
  retryable: boolean;
  details?: unknown;
  timestamp: string;
}

/** The answer to every acknowledged client→server event (§3). */
export type Ack<D> = { ok: true; data: D } | { ok: false; error: ErrorBody };

/** Disconnect reasons sent in `session:disconnect` (§8). */
export type DisconnectCode = 'TOKEN_EXPIRED' | 'POLICY_VIOLATION' | 'SERVER_SHUTDOWN' | 'KICKED';

export type ConversationType = 'direct' | 'group' | 'channel';
export type MemberRole = 'owner' | 'admin' | 'member';
export type Metadata = Record<string, unknown>;

/** §4.1 */
export interface Conversation {
  tenantId: string;
  id: ConversationId;
  type: ConversationType;
  name: string | null;
  isPublic: boolean;
  metadata: Metadata;
  createdBy: UserId;
  createdAt: string;
  updatedAt: string;
}

/** A conversation as `room:list` answers it: with your role, its newest seq and your read cursor. */
export interface ConversationSummary extends Conversation {
  role: MemberRole;
  lastSeq: Seq;
  readSeq: Seq;
}

/** §4.2 */
export interface Member {
  userId: UserId;
  role: MemberRole;
  joinedAt: string;
}

export interface Reaction {
  emoji: string;
  userIds: UserId[];
}

/** `text`, `media`, `custom` are sent by clients; `system` by the server. */
export type MessageType = 'text' | 'media' | 'custom' | 'system';

/** §4.3 */
export interface Message {
  conversationId: ConversationId;
  id: MessageId;
  seq: Seq;
  senderId: UserId;
  clientMessageId: string;
  type: MessageType;
  content: string;
  metadata: Metadata;
  replyTo: MessageId | null;
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  reactions: Reaction[];
  /** Binary attachment, only when the message has one. */
  attachment?: Uint8Array | ArrayBuffer;
}

export type PresenceStatus = 'online' | 'away' | 'dnd' | 'offline';
/** A status a user can choose; `offline` only happens by leaving. */
export type ChosenStatus = Exclude<PresenceStatus, 'offline'>;

/** §4.4 */
export interface Presence {
  userId: UserId;
  status: PresenceStatus;
  customStatus: string | null;
  lastSeen: string | null;
  devices: number;
}

/** §6.1 */
export interface SessionReady {
  socketId: string;
  serverId: string;
  tenantId: string;
  userId: UserId;
  deviceId: string;
  expiresAt: number | null;
  limits: { maxEventBytes: number; maxAttachmentBytes: number };
}

/** §12: sent once per connection with `auth.inbox`, after the replay. */
export interface InboxSynced {
  head: InboxOffset;
  replayed: number;
  lost: boolean;
}

/** `data` of each server→client event (§6, §12). */
export interface ServerEventMap {
  'session:ready': SessionReady;
  'room:created': { conversation: Conversation; members: Member[] };
  'room:member_joined': { conversationId: ConversationId; member: Member };
  'room:member_left': { conversationId: ConversationId; userId: UserId };
  'room:updated': { conversation: Conversation; members: Member[]; added: UserId[]; removed: UserId[]; by: UserId };
  'message:new': Message;
  'message:updated': Message;
  'message:deleted': { conversationId: ConversationId; messageId: MessageId; seq: Seq; deletedAt: string };
  'message:reaction': { conversationId: ConversationId; messageId: MessageId; seq: Seq; userId: UserId; emoji: string; op: 'add' | 'remove'; reactions: Reaction[] };
  'message:read': { conversationId: ConversationId; userId: UserId; seq: Seq; readAt: string };
  'typing:update': { conversationId: ConversationId; userId: UserId; typing: boolean; reason: 'start' | 'stop' | 'timeout' | 'message'; typers: UserId[] };
  'presence:changed': Presence;
  'auth:expiring': { expiresAt: number };
  'session:disconnect': { code: DisconnectCode; message: string; reconnect: boolean };
  'server:error': { event: string; error: ErrorBody };
  'inbox:synced': InboxSynced;
}

export type ServerEventName = keyof ServerEventMap;

/** Fields of `room:create` (§5.2). */
export interface CreateRoomInput {
  type: ConversationType;
  members: UserId[];
  name?: string;
  isPublic?: boolean;
  metadata?: Metadata;
}

/** Fields of `room:update` (§5.5) besides `conversationId`. */
export interface UpdateRoomInput {
  name?: string;
  isPublic?: boolean;
  metadata?: Metadata;
  addMembers?: UserId[];
  removeMembers?: UserId[];
  promote?: UserId[];
  demote?: UserId[];
}

/** The payload of `message:send` (§5.8). */
export interface SendInput {
  conversationId: ConversationId;
  clientMessageId: string;
  content: string;
  type?: 'text' | 'media' | 'custom';
  metadata?: Metadata;
  replyTo?: MessageId;
  attachment?: Uint8Array | ArrayBuffer;
}

/** A page of `message:history` (§5.13). */
export interface HistoryPage {
  messages: Message[];
  /** Older messages exist (newer ones, when the query gave `after`). */
  hasMore: boolean;
}

/** Query of `message:history`: give `before` or `after`, not both; `limit` 1–100 (default 50). */
export interface HistoryQuery {
  before?: Seq;
  after?: Seq;
  limit?: number;
}

type Room = { conversation: Conversation; members: Member[] };
type RoomRef = { conversationId: ConversationId };

/** Every acknowledged client→server event: its payload and the `data` of its answer (§5). */
export interface RequestMap {
  'auth:refresh': { payload: { token: string }; answer: { expiresAt: number | null } };
  'room:create': { payload: CreateRoomInput; answer: Room & { created: boolean } };
  'room:join': { payload: RoomRef; answer: Room };
  'room:leave': { payload: RoomRef; answer: RoomRef };
  'room:update': { payload: RoomRef & UpdateRoomInput; answer: Room };
  'room:get': { payload: RoomRef; answer: Room & { lastSeq: Seq; readCursors: { userId: UserId; seq: Seq }[] } };
  'room:list': { payload: Record<string, never>; answer: { conversations: ConversationSummary[] } };
  'message:send': { payload: SendInput; answer: { message: Message; duplicate: boolean } };
  'message:edit': { payload: RoomRef & { messageId: MessageId; content: string; metadata?: Metadata }; answer: Message };
  'message:delete': { payload: RoomRef & { messageId: MessageId }; answer: ServerEventMap['message:deleted'] };
  'message:react': { payload: RoomRef & { messageId: MessageId; emoji: string; op?: 'add' | 'remove' }; answer: ServerEventMap['message:reaction'] };
  'message:read': { payload: RoomRef & { seq: Seq }; answer: { conversationId: ConversationId; seq: Seq } };
  'message:history': { payload: RoomRef & HistoryQuery; answer: HistoryPage };
  'typing:start': { payload: RoomRef; answer: { throttled: boolean } };
  'typing:stop': { payload: RoomRef; answer: { stopped: boolean } };
  'presence:update': { payload: { status?: ChosenStatus; customStatus?: string | null }; answer: Presence };
  'presence:subscribe': { payload: { userIds: UserId[] }; answer: { presence: Presence[] } };
  'presence:unsubscribe': { payload: { userIds: UserId[] }; answer: { unsubscribed: number } };
  'presence:query': { payload: { userIds: UserId[] }; answer: { presence: Presence[] } };
  'inbox:ack': { payload: { offset: InboxOffset }; answer: { offset: InboxOffset } };
}

export type RequestName = keyof RequestMap;

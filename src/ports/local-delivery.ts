import type { ConversationId, SocketId, TenantId, UserId } from '../domain/ids.js';
import type { DisconnectCode } from '../domain/disconnect.js';
import type { Envelope } from '../domain/protocol/envelope.js';

export interface MembershipChange {
  tenantId: TenantId;
  conversationId: ConversationId;
  /** The conversation's topic, for conversations delivered through one. */
  topic?: string;
  joined: UserId[];
  left: UserId[];
}

export interface EmitOptions {
  /** At-most-once: may be dropped when the socket is not writable (typing, cursors). */
  volatile?: boolean;
  /** Leave out this socket (usually the sender's own). */
  exceptSocket?: SocketId;
}

/**
 * Emits to sockets held by this server and to topics (named groups of sockets).
 * Implemented by the transport. Emission to many sockets encodes the envelope once.
 */
/** Sockets of one user and the inbox offset the envelope has for that user. */
export interface OffsetGroup {
  socketIds: readonly SocketId[];
  offset: number;
}

export interface LocalDelivery {
  emit(socketIds: readonly SocketId[], envelope: Envelope, options?: EmitOptions): void;
  /**
   * Emits the envelope to each group's sockets with the group's `offset` set: one inbox
   * entry of many users. The envelope is encoded once for all groups, not once per user.
   */
  emitEach(groups: readonly OffsetGroup[], envelope: Envelope): void;
  /** Emits to every socket that joined the topic. */
  emitToTopic(topic: string, envelope: Envelope, options?: EmitOptions): void;
  /**
   * False only when no socket anywhere is in the topic: this server holds none in it and no
   * other server can (a single node). Lets callers skip building an event nobody would get.
   */
  topicHasListeners(topic: string): boolean;
  /**
   * Joins the socket to the topics; resolves once events published to them anywhere in the
   * cluster reach it (the server's subscription to a topic is in place).
   */
  join(socketId: SocketId, topics: readonly string[]): Promise<void>;
  leave(socketId: SocketId, topics: readonly string[]): void;
  /**
   * Tells every server of the cluster that a conversation or its membership changed, and
   * applies the change to the topic the conversation uses, if any: every socket of the
   * `joined` users enters it and every socket of the `left` users leaves it. Resolves once
   * the servers that answered in time have applied it (and hold their subscription).
   */
  membershipChanged(change: MembershipChange): Promise<void>;
  /** Tells the sockets why (the `session:disconnect` event), then closes them. */
  disconnect(socketIds: readonly SocketId[], code: DisconnectCode): void;
}

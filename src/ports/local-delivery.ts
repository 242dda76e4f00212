import type { SocketId, TenantId, UserId } from '../domain/ids.js';
import type { DisconnectCode } from '../domain/disconnect.js';
import type { Envelope } from '../domain/protocol/envelope.js';

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
export interface LocalDelivery {
  emit(socketIds: readonly SocketId[], envelope: Envelope, options?: EmitOptions): void;
  /** Emits to every socket that joined the topic. */
  emitToTopic(topic: string, envelope: Envelope, options?: EmitOptions): void;
  /**
   * Joins the socket to the topics; resolves once events published to them anywhere in the
   * cluster reach it (the server's subscription to a topic is in place).
   */
  join(socketId: SocketId, topics: readonly string[]): Promise<void>;
  leave(socketId: SocketId, topics: readonly string[]): void;
  /**
   * Joins every socket of these users, on every server of the cluster, to `topic`. Resolves
   * once the servers that answered in time hold the join and their subscription to `topic`.
   */
  joinUsers(tenantId: TenantId, userIds: readonly UserId[], topic: string): Promise<void>;
  /** The reverse of `joinUsers`. */
  leaveUsers(tenantId: TenantId, userIds: readonly UserId[], topic: string): Promise<void>;
  /** Tells the sockets why (the `session:disconnect` event), then closes them. */
  disconnect(socketIds: readonly SocketId[], code: DisconnectCode): void;
}

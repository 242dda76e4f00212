import type { ServerId, SocketId } from '../domain/ids.js';
import type { Envelope } from '../domain/protocol/envelope.js';

/** What one server asks another to emit to sockets it holds. */
export interface DeliveryBatch {
  from: ServerId;
  /** `exceptSocket`: the socket that caused the event, which gets it only if it tracks its inbox. */
  items: { socketIds: SocketId[]; envelope: Envelope; volatile: boolean; exceptSocket?: SocketId }[];
}

/**
 * Carries delivery batches between servers, one channel per server (`server:{id}`).
 *
 * Guarantees: at-most-once; batches published by one server to another arrive in
 * publish order. Handlers must not throw.
 */
export interface ClusterBus {
  publish(to: ServerId, batch: DeliveryBatch): Promise<void>;
  /** Starts receiving this server's batches; resolves once subscribed. */
  subscribe(serverId: ServerId, handler: (batch: DeliveryBatch) => void): Promise<void>;
  close(): Promise<void>;
}

import type { ServerId } from '../../domain/ids.js';
import type { ClusterBus, DeliveryBatch } from '../../ports/cluster-bus.js';

/** Delivers batches between servers in one process; one hub per simulated cluster. */
export class MemoryClusterBus implements ClusterBus {
  private readonly handlers = new Map<ServerId, (batch: DeliveryBatch) => void>();

  async publish(to: ServerId, batch: DeliveryBatch): Promise<void> {
    const handler = this.handlers.get(to);
    // Delivered on a later tick, as a network bus would, so callers never re-enter.
    if (handler) queueMicrotask(() => handler(batch));
  }

  async subscribe(serverId: ServerId, handler: (batch: DeliveryBatch) => void): Promise<void> {
    this.handlers.set(serverId, handler);
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}

import { decode, encode } from '@msgpack/msgpack';
import type { ServerId } from '../../domain/ids.js';
import type { ClusterBus, DeliveryBatch } from '../../ports/cluster-bus.js';
import type { Logger } from '../../ports/logger.js';
import type { RedisPubSub } from './redis-connection.js';
import { keys } from './redis-keys.js';

/**
 * Delivery batches over Redis pub/sub on `sb:server:{id}`, MessagePack-encoded so binary
 * attachments cross as bytes. At-most-once, like Redis pub/sub itself.
 */
export class RedisClusterBus implements ClusterBus {
  private readonly channels = new Set<string>();

  constructor(
    private readonly pubsub: RedisPubSub,
    private readonly logger: Logger,
  ) {}

  async publish(to: ServerId, batch: DeliveryBatch): Promise<void> {
    await this.pubsub.publish(keys.serverChannel(to), Buffer.from(encode(batch)));
  }

  async subscribe(serverId: ServerId, handler: (batch: DeliveryBatch) => void): Promise<void> {
    const channel = keys.serverChannel(serverId);
    this.channels.add(channel);
    await this.pubsub.subscribe(channel, (message) => {
      try {
        handler(decode(message) as DeliveryBatch);
      } catch (err) {
        this.logger.warn({ err, channel }, 'undecodable delivery batch dropped');
      }
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.channels].map((c) => this.pubsub.unsubscribe(c)));
    this.channels.clear();
  }
}

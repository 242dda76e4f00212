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
  private readonly channels = new Map<string, (message: Buffer) => void>();

  constructor(
    private readonly pubsub: RedisPubSub,
    private readonly logger: Logger,
  ) {}

  async publish(to: ServerId, batch: DeliveryBatch): Promise<void> {
    await this.pubsub.publish(keys.serverChannel(to), Buffer.from(encode(batch)));
  }

  async subscribe(serverId: ServerId, handler: (batch: DeliveryBatch) => void): Promise<void> {
    const channel = keys.serverChannel(serverId);
    const listener = (message: Buffer) => {
      try {
        handler(decode(message) as DeliveryBatch);
      } catch (err) {
        this.logger.warn({ err, channel }, 'undecodable delivery batch dropped');
      }
    };
    this.channels.set(channel, listener);
    await this.pubsub.subscribe(channel, listener);
  }

  /**
   * Subscribes this server's channels again, with the same listeners so nothing doubles:
   * after a Redis Cluster failover the subscriptions held by the lost master are gone.
   */
  async resubscribe(): Promise<void> {
    await Promise.all([...this.channels].map(([channel, listener]) => this.pubsub.subscribe(channel, listener)));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.channels.keys()].map((c) => this.pubsub.unsubscribe(c)));
    this.channels.clear();
  }
}

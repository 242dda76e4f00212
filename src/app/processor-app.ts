import { hostname } from 'node:os';
import { pino, type Logger as PinoLogger } from 'pino';
import { connectRedis } from '../adapters/redis/redis-connection.js';
import { MessageProcessor, PROCESSOR_DEFAULTS, type ProcessorCounts } from '../core/processor/message-processor.js';
import type { Config } from './config.js';
import { createDeliveryBackend } from './delivery-backend.js';

export interface ProcessorApp {
  readonly logger: PinoLogger;
  readonly counts: ProcessorCounts;
  start(): void;
  /** Finishes (or leaves uncommitted) the batch in hand, then closes the backends. */
  stop(): Promise<void>;
}

/**
 * `switchboard processor`: consumes the durable log into the store, for deployments whose
 * log is Redis Streams or Kafka (with the embedded log the server runs it inline). Name
 * each processor with `SWITCHBOARD_SERVER_ID` so that a restarted one takes its own
 * unfinished batches back at once.
 */
export async function createProcessorApp(config: Config): Promise<ProcessorApp> {
  const logger = pino({ level: config.logLevel, base: { service: 'switchboard', role: 'processor' } });
  const redis = config.cluster.kind === 'redis' ? await connectRedis(config.cluster, logger) : null;
  const backend = await createDeliveryBackend(config, redis, logger);
  if (backend.sequencer.storesOnAccept) {
    await backend.close();
    await redis?.close();
    throw new Error('With the embedded log and the SQLite store, the server stores each message as it accepts it: there is no log to process (docs/decisions/005)');
  }
  const consumer = config.serverId ?? `processor-${hostname()}-${process.pid}`;
  const processor = new MessageProcessor(backend.log, backend.messages, backend.sequencer, logger, { ...PROCESSOR_DEFAULTS, consumer });
  return {
    logger,
    counts: processor.counts,
    start() {
      processor.start();
      logger.info({ consumer, log: config.log.kind, store: config.store.kind }, 'processor consuming');
    },
    async stop() {
      await processor.stop();
      await backend.close();
      await redis?.close();
      logger.info({ ...processor.counts }, 'processor stopped');
    },
  };
}

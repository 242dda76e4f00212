import { Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload, type KafkaConfig, type LogEntry as KafkaLogLine, type Producer } from 'kafkajs';
import type { TenantId } from '../../domain/ids.js';
import type { Message } from '../../domain/model.js';
import type { DurableLog, LogConsumer, LogConsumerOptions, LogEntry } from '../../ports/durable-log.js';
import type { Logger } from '../../ports/logger.js';
import { encodeMessageRecord, toLogEntry } from '../codec/message-record.js';
import { ConsumerState } from '../log-consumer/consumer-loop.js';

export interface KafkaDurableLogOptions {
  /** Passed to kafkajs as is: brokers, clientId, ssl, sasl, timeouts, retry. Logs go to the log's logger unless `logCreator` is set. */
  kafka: KafkaConfig;
  /** Partitions of a tenant topic this log creates on its first append (default 16). */
  topicPartitions?: number;
  /** Replication factor of the topics this log creates (default -1: the brokers' default). */
  replicationFactor?: number;
  /** How often consumers look for new tenant topics to subscribe to (default 30 s). */
  topicRefreshMs?: number;
  /** Where `deadLetter` parks records, the reason in the `reason` header (default `messages.dead-letter`). */
  deadLetterTopic?: string;
  /** The consumer group session timeout (default 30 s); heartbeats go out every third of it. */
  sessionTimeoutMs?: number;
}

const TOPIC_PREFIX = 'messages.';
const DEFAULT_DEAD_LETTER_TOPIC = 'messages.dead-letter';

/**
 * The topic of a tenant: `messages.{tenantId}`. Kafka topic names allow only letters, digits,
 * `.`, `_` and `-`, so every other byte of the id (and `_` itself) is written `_xx` in hex:
 * `acme:eu` → `messages.acme_3aeu`. Distinct ids give distinct topics.
 */
export function kafkaTopicOf(tenantId: TenantId | string): string {
  let name = TOPIC_PREFIX;
  for (const ch of tenantId) {
    if (/[A-Za-z0-9.-]/.test(ch)) name += ch;
    else for (const byte of Buffer.from(ch)) name += `_${byte.toString(16).padStart(2, '0')}`;
  }
  return name;
}

/**
 * The durable log on Kafka (kafkajs): one topic per tenant, `messages.{tenantId}`, keyed by
 * conversation id so a conversation stays in one partition, in order. The producer is
 * idempotent with one request in flight and waits for all in-sync replicas (`acks: -1`).
 * Consumers run `eachBatch` without auto-resolve, hand the batch to the handler in chunks of
 * `batchSize`, and resolve and commit each chunk's offsets only after the handler resolved.
 *
 * Topics: kafkajs matches a subscription only against the topics that exist when it
 * subscribes. So this log creates a tenant's topic on its first append, and each consumer
 * lists the topics every `topicRefreshMs` (and at once after this process created one); when
 * a new tenant topic appears it stops its kafkajs consumer (letting the batch in hand finish),
 * subscribes to the new topics and runs again. Until then a new tenant's records wait.
 *
 * kafkajs has no static membership: the `consumer` name only labels logs, and a restarted
 * member resumes from its group's committed offsets.
 */
export class KafkaDurableLog implements DurableLog {
  private readonly kafka: Kafka;
  private readonly settings: Required<Omit<KafkaDurableLogOptions, 'kafka'>>;
  private producer: Promise<Producer> | undefined;
  private admin: Promise<Admin> | undefined;
  private readonly knownTopics = new Set<string>();
  private readonly members = new Set<KafkaGroupMember>();

  constructor(
    options: KafkaDurableLogOptions,
    private readonly logger: Logger,
  ) {
    this.settings = {
      topicPartitions: options.topicPartitions ?? 16,
      replicationFactor: options.replicationFactor ?? -1,
      topicRefreshMs: options.topicRefreshMs ?? 30_000,
      deadLetterTopic: options.deadLetterTopic ?? DEFAULT_DEAD_LETTER_TOPIC,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000,
    };
    this.kafka = new Kafka({ logLevel: logLevel.WARN, logCreator: () => (line) => this.log(line), ...options.kafka });
  }

  async append(messages: readonly Message[]): Promise<void> {
    if (messages.length === 0) return;
    const byTopic = new Map<string, { key: string; value: Buffer }[]>();
    for (const m of messages) {
      const topic = kafkaTopicOf(m.tenantId);
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push({ key: m.conversationId, value: Buffer.from(encodeMessageRecord(m)) });
    }
    await this.ensureTopics([...byTopic.keys()]);
    const producer = await this.connectProducer();
    await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list })) });
  }

  consume(options: LogConsumerOptions, handler: (entries: LogEntry[]) => Promise<void>): LogConsumer {
    const state = new ConsumerState(handler, this.logger, { backend: 'kafka', ...options });
    const member = new KafkaGroupMember(this.kafka, options, state, this.settings, () => this.listTenantTopics(), this.logger);
    this.members.add(member);
    member.start();
    return {
      stop: async () => {
        await member.stop();
        this.members.delete(member);
      },
    };
  }

  async deadLetter(entries: readonly { entry: LogEntry; reason: string }[]): Promise<void> {
    if (entries.length === 0) return;
    const topic = this.settings.deadLetterTopic;
    await this.ensureTopics([topic]);
    const producer = await this.connectProducer();
    const at = new Date().toISOString();
    await producer.send({
      topic,
      acks: -1,
      messages: entries.map(({ entry, reason }) => ({ key: entry.id, value: Buffer.from(entry.raw), headers: { reason, 'record-id': entry.id, 'dead-at': at } })),
    });
  }

  /** Abandons the running consumers, as a process exit would (their uncommitted chunks are fetched again), then disconnects. */
  async close(): Promise<void> {
    const members = [...this.members];
    this.members.clear();
    await Promise.allSettled(members.map((m) => m.abandon()));
    const [producer, admin] = [this.producer, this.admin];
    this.producer = this.admin = undefined;
    await Promise.allSettled([producer?.then((p) => p.disconnect()), admin?.then((a) => a.disconnect())]);
  }

  private connectProducer(): Promise<Producer> {
    this.producer ??= (async () => {
      const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await producer.connect();
      return producer;
    })();
    this.producer.catch(() => (this.producer = undefined));
    return this.producer;
  }

  private connectAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })();
    this.admin.catch(() => (this.admin = undefined));
    return this.admin;
  }

  /** Creates the topics this process has not seen yet (a no-op for those that exist), then tells local consumers. */
  private async ensureTopics(topics: string[]): Promise<void> {
    const unknown = topics.filter((t) => !this.knownTopics.has(t));
    if (unknown.length === 0) return;
    const admin = await this.connectAdmin();
    const { topicPartitions: numPartitions, replicationFactor } = this.settings;
    await admin.createTopics({ waitForLeaders: true, topics: unknown.map((topic) => ({ topic, numPartitions, replicationFactor })) });
    for (const t of unknown) this.knownTopics.add(t);
    for (const member of this.members) member.refreshSoon();
  }

  private async listTenantTopics(): Promise<string[]> {
    const admin = await this.connectAdmin();
    return (await admin.listTopics()).filter((t) => t.startsWith(TOPIC_PREFIX) && t !== this.settings.deadLetterTopic && /^[A-Za-z0-9._-]+$/.test(t));
  }

  private log({ namespace, level, log }: KafkaLogLine): void {
    const { message, timestamp: _timestamp, ...rest } = log;
    const context = { kafka: namespace, ...rest };
    if (level === logLevel.ERROR) this.logger.error(context, message);
    else if (level === logLevel.WARN) this.logger.warn(context, message);
    else if (level === logLevel.INFO) this.logger.info(context, message);
    else this.logger.debug(context, message);
  }
}

/** One member of a consumer group: a kafkajs consumer, restarted when new tenant topics appear. */
class KafkaGroupMember {
  private consumer: Consumer | null = null;
  private readonly subscribed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  private refreshQueued = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: LogConsumerOptions,
    private readonly state: ConsumerState,
    private readonly settings: Required<Omit<KafkaDurableLogOptions, 'kafka'>>,
    private readonly listTopics: () => Promise<string[]>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.refreshSoon();
    this.timer = setInterval(() => this.refreshSoon(), this.settings.topicRefreshMs);
  }

  /** Looks for new tenant topics now (one look at a time; a request during a look queues one more). */
  refreshSoon(): void {
    if (this.refreshQueued || this.state.stopped) return;
    this.refreshQueued = true;
    this.refreshing = this.refreshing.then(async () => {
      this.refreshQueued = false;
      if (this.state.stopped) return;
      try {
        await this.refresh();
      } catch (err) {
        this.logger.warn({ ...this.state.context, err }, 'kafka topic refresh failed; trying again later');
      }
    });
  }

  async stop(): Promise<void> {
    this.state.stop();
    clearInterval(this.timer);
    // A look that has not created the kafkajs consumer yet sees `stopped` and creates none; one
    // that has is restarting it and must finish before the disconnect.
    if (this.consumer) await this.refreshing;
    // disconnect() stops the runner, which waits for eachBatch: the chunk in hand finishes and commits.
    await this.consumer?.disconnect();
    this.consumer = null;
  }

  async abandon(): Promise<void> {
    this.state.abandon();
    await this.stop();
  }

  private async refresh(): Promise<void> {
    const fresh = (await this.listTopics()).filter((t) => !this.subscribed.has(t));
    if (fresh.length === 0 || this.state.stopped) return;
    if (this.consumer) await this.consumer.stop();
    else this.consumer = this.createConsumer();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: fresh, fromBeginning: true });
    for (const t of fresh) this.subscribed.add(t);
    if (this.state.stopped) return;
    this.logger.info({ ...this.state.context, topics: fresh }, 'kafka consumer subscribed to new tenant topics');
    await this.consumer.run({
      eachBatchAutoResolve: false,
      autoCommit: true,
      // Every resolved offset is committed at the next commitOffsetsIfNecessary(), i.e. after each chunk.
      autoCommitThreshold: 1,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  private createConsumer(): Consumer {
    const { sessionTimeoutMs } = this.settings;
    const consumer = this.kafka.consumer({ groupId: this.options.group, sessionTimeout: sessionTimeoutMs, heartbeatInterval: Math.floor(sessionTimeoutMs / 3), allowAutoTopicCreation: false });
    consumer.on(consumer.events.CRASH, (event) => {
      this.logger.error({ ...this.state.context, err: event.payload.error, restart: event.payload.restart }, 'kafka consumer crashed');
    });
    return consumer;
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { batchSize } = this.options;
    const beat = () => heartbeat().catch((err: unknown) => this.logger.warn({ ...this.state.context, err }, 'kafka heartbeat failed'));
    for (let i = 0; i < batch.messages.length; i += batchSize) {
      // Not running or stopped: stop() was called; stale: a rebalance or seek moved the partition away.
      if (!isRunning() || isStale() || this.state.stopped) return;
      const chunk = batch.messages.slice(i, i + batchSize);
      const entries = chunk.map((m) => toLogEntry(`${batch.topic}:${batch.partition}:${m.offset}`, m.value ?? new Uint8Array()));
      // A long handler must not cost the group membership: heartbeat while it runs.
      const timer = setInterval(() => void beat(), Math.floor(this.settings.sessionTimeoutMs / 3));
      let handled: boolean;
      try {
        handled = await this.state.handle(entries);
      } finally {
        clearInterval(timer);
      }
      // Unhandled (abandoned, or stopped while retrying): not resolved, so fetched again.
      if (!handled) return;
      resolveOffset(chunk[chunk.length - 1]!.offset);
      await commitOffsetsIfNecessary();
      await beat();
    }
  }
}

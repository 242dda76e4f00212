import type { Message } from '../domain/model.js';

/** One record as consumed: `message` is absent when the record could not be decoded. */
export interface LogEntry {
  /** The log's own position of the record (stream id, partition/offset, row id). */
  id: string;
  message: Message | null;
  /** The record as stored, kept for the dead-letter stream. */
  raw: Uint8Array;
  /** Why the record could not be decoded. */
  error?: string;
}

export interface LogConsumerOptions {
  /** Consumer group: each record is handled by one member of the group. */
  group: string;
  /** This member's name, stable across restarts of the same process role. */
  consumer: string;
  /** Largest batch handed to the handler. */
  batchSize: number;
}

/** A running consumer. */
export interface LogConsumer {
  /** Stops fetching, lets the batch in hand finish (and commit), then resolves. */
  stop(): Promise<void>;
}

/**
 * The durable log of accepted messages (seed 000 §1.1): Kafka topic `messages.{tenantId}`,
 * a Redis stream, or an SQLite table, keyed by conversation.
 *
 * Guarantees:
 * - `append` resolves once the records are durable (Kafka acks=all, Redis AOF/replicas,
 *   SQLite commit); records of one conversation are consumed in append order.
 * - At-least-once consumption: a batch is committed only after its handler resolves; a
 *   batch whose consumer died is handed to another member of the group.
 * - Handlers retry or dead-letter themselves; a handler rejects only when its consumer is
 *   being stopped mid-batch, and that batch is then left uncommitted (it comes again).
 */
export interface DurableLog {
  append(messages: readonly Message[]): Promise<void>;
  consume(options: LogConsumerOptions, handler: (entries: LogEntry[]) => Promise<void>): LogConsumer;
  /** Parks records that can never be processed, with the reason. */
  deadLetter(entries: readonly { entry: LogEntry; reason: string }[]): Promise<void>;
  close(): Promise<void>;
}

import { decode, Encoder } from '@msgpack/msgpack';
import type { Message } from '../../domain/model.js';
import type { LogEntry } from '../../ports/durable-log.js';

/**
 * The durable log's record format, shared by every log backend: the domain `Message` as one
 * MessagePack map. Field names travel with the values, so a record stays readable after
 * fields are added; the attachment is MessagePack `bin` and comes back as a `Uint8Array`.
 */
export function encodeMessageRecord(message: Message): Uint8Array {
  return recordEncoder.encode(message);
}

/** One encoder reused for every record (`encode` returns a copy): `encode()` would allocate a new encoder and its buffer each time. */
const recordEncoder = new Encoder();

/** A decoded record: the message, or why there is none. */
export type DecodedRecord = { message: Message; error?: undefined } | { message: null; error: string };

const MESSAGE_TYPES = new Set(['text', 'media', 'system', 'custom']);
const STRING_FIELDS = ['tenantId', 'conversationId', 'id', 'senderId', 'clientMessageId', 'type', 'content', 'createdAt'] as const;
const NULLABLE_STRING_FIELDS = ['replyTo', 'editedAt', 'deletedAt'] as const;

/**
 * Decodes one record. Never throws: bytes that are not MessagePack, or a map that lacks what
 * a `Message` needs, come back as `message: null` with the reason, for the dead-letter stream.
 * The check is deliberately shallow (field presence and kinds), not a full schema.
 */
export function decodeMessageRecord(raw: Uint8Array): DecodedRecord {
  let value: unknown;
  try {
    value = decode(raw);
  } catch (err) {
    return { message: null, error: `not MessagePack: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { message: null, error: 'not a map' };
  const m = value as Record<string, unknown>;
  for (const field of STRING_FIELDS) {
    if (typeof m[field] !== 'string') return { message: null, error: `${field} is not a string` };
  }
  for (const field of NULLABLE_STRING_FIELDS) {
    if (m[field] !== null && typeof m[field] !== 'string') return { message: null, error: `${field} is neither a string nor null` };
  }
  if (!MESSAGE_TYPES.has(m.type as string)) return { message: null, error: `unknown message type ${String(m.type)}` };
  if (typeof m.seq !== 'number' || !Number.isSafeInteger(m.seq)) return { message: null, error: 'seq is not an integer' };
  if (typeof m.metadata !== 'object' || m.metadata === null || Array.isArray(m.metadata)) return { message: null, error: 'metadata is not a map' };
  if (m.attachment !== null && !(m.attachment instanceof Uint8Array)) return { message: null, error: 'attachment is neither binary nor null' };
  if (!Array.isArray(m.reactions)) return { message: null, error: 'reactions is not an array' };
  // The decoder hands out views into `raw` (a Buffer when a driver gave one, which the driver
  // may reuse): the attachment gets its own plain Uint8Array.
  if (m.attachment instanceof Uint8Array) m.attachment = new Uint8Array(m.attachment);
  return { message: m as unknown as Message };
}

/** The entry a consumer hands to its handler for the record stored under `id`. */
export function toLogEntry(id: string, raw: Uint8Array): LogEntry {
  const decoded = decodeMessageRecord(raw);
  return decoded.message ? { id, message: decoded.message, raw } : { id, message: null, raw, error: decoded.error };
}

import { z } from 'zod';
import { ID_PATTERN } from '../ids.js';

/**
 * Validation of every client→server payload. These schemas are the single source of
 * both runtime checks and the TypeScript types of the payloads.
 */
const id = z.string().regex(ID_PATTERN, 'must be 1–128 characters of letters, digits and _ - . @ : |');
const seq = z.number().int().nonnegative();
export const MAX_METADATA_BYTES = 4096;
const metadata = z
  .record(z.string(), z.unknown())
  .refine((m) => JSON.stringify(m).length <= MAX_METADATA_BYTES, `must serialise to at most ${MAX_METADATA_BYTES} bytes`);

export const AuthRefresh = z.object({ token: z.string().min(1).max(8192) }).strict();

export const RoomCreate = z
  .object({
    type: z.enum(['direct', 'group', 'channel']),
    name: z.string().min(1).max(200).optional(),
    members: z.array(id).max(1000).default([]),
    isPublic: z.boolean().optional(),
    metadata: metadata.optional(),
  })
  .strict();
export const RoomRef = z.object({ conversationId: id }).strict();
export const RoomUpdate = z
  .object({
    conversationId: id,
    name: z.string().min(1).max(200).optional(),
    isPublic: z.boolean().optional(),
    metadata: metadata.optional(),
    addMembers: z.array(id).max(1000).optional(),
    removeMembers: z.array(id).max(1000).optional(),
    promote: z.array(id).max(100).optional(),
    demote: z.array(id).max(100).optional(),
  })
  .strict();

export const MAX_CONTENT_CHARS = 16_000;
export const MessageSend = z
  .object({
    conversationId: id,
    clientMessageId: id,
    type: z.enum(['text', 'media', 'custom']).default('text'),
    content: z.string().max(MAX_CONTENT_CHARS),
    metadata: metadata.optional(),
    replyTo: id.optional(),
    attachment: z.instanceof(Uint8Array).optional(),
  })
  .strict();
export const MessageEdit = z
  .object({ conversationId: id, messageId: id, content: z.string().min(1).max(MAX_CONTENT_CHARS), metadata: metadata.optional() })
  .strict();
export const MessageDelete = z.object({ conversationId: id, messageId: id }).strict();
export const MessageReact = z
  .object({
    conversationId: id,
    messageId: id,
    emoji: z.string().min(1).max(64),
    op: z.enum(['add', 'remove']).default('add'),
  })
  .strict();
export const MessageRead = z.object({ conversationId: id, seq: seq }).strict();
export const MAX_HISTORY_PAGE = 100;
export const MessageHistory = z
  .object({
    conversationId: id,
    before: seq.optional(),
    after: seq.optional(),
    limit: z.number().int().min(1).max(MAX_HISTORY_PAGE).default(50),
  })
  .strict()
  .refine((q) => q.before === undefined || q.after === undefined, 'give either before or after, not both');

export const TypingEvent = z.object({ conversationId: id }).strict();

export const PresenceUpdate = z
  .object({
    status: z.enum(['online', 'away', 'dnd']).optional(),
    customStatus: z.string().max(200).nullable().optional(),
  })
  .strict()
  .refine((p) => p.status !== undefined || p.customStatus !== undefined, 'give status or customStatus');
export const MAX_PRESENCE_QUERY = 500;
export const PresenceUsers = z.object({ userIds: z.array(id).min(1).max(MAX_PRESENCE_QUERY) }).strict();

/** Name of an event pushed by the backend; reserved Socket.IO and Switchboard names are refused. */
export const PushEventName = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1–64 characters of letters, digits and _ . : -')
  .refine(
    (n) => !['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener', 'error'].includes(n)
      && !/^(message|room|typing|presence|auth|session|server):/.test(n),
    'is reserved',
  );

export const PushRequest = z
  .object({
    tenantId: id,
    userId: id.optional(),
    deviceId: id.optional(),
    roomId: id.optional(),
    event: PushEventName,
    payload: z.unknown(),
    options: z
      .object({ volatile: z.boolean().optional(), timeout: z.number().int().positive().optional() })
      .catchall(z.unknown())
      .optional(),
  })
  .strict()
  .refine((r) => !(r.userId !== undefined && r.roomId !== undefined), 'give userId or roomId, not both')
  .refine((r) => r.deviceId === undefined || r.userId !== undefined, 'deviceId needs userId');

export type RoomCreateInput = z.infer<typeof RoomCreate>;
export type RoomUpdateInput = z.infer<typeof RoomUpdate>;
export type MessageSendInput = z.infer<typeof MessageSend>;
export type MessageEditInput = z.infer<typeof MessageEdit>;
export type MessageReactInput = z.infer<typeof MessageReact>;
/** `inbox:ack`: the device holds every inbox entry up to `offset`. */
export const InboxAck = z.object({ offset: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER) }).strict();

/** `auth.inbox` of the handshake: acknowledged delivery, replaying after `after` if given. */
export const HandshakeInbox = z.object({ after: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional() }).strict();

export type MessageHistoryInput = z.infer<typeof MessageHistory>;
export type PresenceUpdateInput = z.infer<typeof PresenceUpdate>;
export type PushRequestInput = z.infer<typeof PushRequest>;

/** Turns zod issues into the `details` of a VALIDATION_FAILED error: which field, what is wrong. */
export function describeIssues(error: z.ZodError): { field: string; message: string }[] {
  return error.issues.map((i) => ({ field: i.path.length ? i.path.join('.') : '(root)', message: i.message }));
}

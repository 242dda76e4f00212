/**
 * Branded identifiers. A `TenantId` cannot be passed where a `UserId` is expected,
 * so tenant scoping is checked by the compiler, not by convention.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type TenantId = Brand<string, 'TenantId'>;
export type UserId = Brand<string, 'UserId'>;
export type DeviceId = Brand<string, 'DeviceId'>;
export type ConversationId = Brand<string, 'ConversationId'>;
export type MessageId = Brand<string, 'MessageId'>;
export type SocketId = Brand<string, 'SocketId'>;
export type ServerId = Brand<string, 'ServerId'>;

/** Per-conversation sequence number: 1, 2, 3… assigned atomically when a message is stored. */
export type Seq = number;

export const asTenantId = (v: string): TenantId => v as TenantId;
export const asUserId = (v: string): UserId => v as UserId;
export const asDeviceId = (v: string): DeviceId => v as DeviceId;
export const asConversationId = (v: string): ConversationId => v as ConversationId;
export const asMessageId = (v: string): MessageId => v as MessageId;
export const asSocketId = (v: string): SocketId => v as SocketId;
export const asServerId = (v: string): ServerId => v as ServerId;

/**
 * Ids that arrive from outside (tokens, events, HTTP) must match this pattern:
 * 1–128 characters of letters, digits and `_ - . @ : |`. It keeps ids printable and
 * safe inside composed keys and channel names.
 */
export const ID_PATTERN = /^[A-Za-z0-9_.@:|-]{1,128}$/;

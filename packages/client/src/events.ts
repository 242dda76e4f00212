import type { ConnectionState, DisconnectInfo } from './connection.js';
import type { SwitchboardClientError } from './errors.js';
import type { MessageSource } from './ordered-delivery.js';
import type { OutboxEntry, SendResult } from './outbox.js';
import type { ConversationId, Envelope, InboxSynced, Message, Seq, ServerEventMap, SessionReady } from './protocol.js';

/** Server events the client passes through as they are (after dropping inbox repeats). */
export type PassThroughEvent = Exclude<keyof ServerEventMap, 'message:new'>;

/** Names of the server events the SDK knows; any other name is a backend push. */
export const SERVER_EVENTS: ReadonlySet<string> = new Set<keyof ServerEventMap>([
  'session:ready', 'room:created', 'room:member_joined', 'room:member_left', 'room:updated',
  'message:new', 'message:updated', 'message:deleted', 'message:reaction', 'message:read',
  'typing:update', 'presence:changed', 'auth:expiring', 'session:disconnect', 'server:error', 'inbox:synced',
]);

/**
 * Every event of {@link SwitchboardClient.on}: the SDK's own, and the server's events of
 * docs/protocol.md §6 with their `data` and envelope. `message:new` is not among them: use
 * `message`, which is the same stream put in seq order and without repeats.
 */
export type ClientEvents = {
  /** A chat message, once per id and in seq order per conversation (own messages included). */
  message: [message: Message, source: MessageSource];
  /** The first handshake started. */
  connecting: [];
  /** The server sent `session:ready`: requests and delivery work from now on. */
  connected: [session: SessionReady];
  /** The connection was lost or refused; `willReconnect` says whether the SDK tries again. */
  disconnected: [info: DisconnectInfo];
  /** A new handshake is scheduled in `delayMs` (attempt 1, 2, 3…). */
  reconnecting: [info: { attempt: number; delayMs: number }];
  /** Every change of {@link SwitchboardClient.state}. */
  state: [state: ConnectionState];
  /** A fresh token was accepted by `auth:refresh` (after `auth:expiring`); the session now ends at `expiresAt`. */
  'token:refreshed': [info: { expiresAt: number | null }];
  /** The inbox replay is over (`inbox:synced`); live delivery follows. */
  synced: [info: InboxSynced];
  /** A queued message was accepted by the server (also for messages restored from storage). */
  sent: [result: SendResult];
  /** A queued message was refused for good (a non-retryable error); it left the outbox. */
  'send:failed': [failure: { entry: OutboxEntry; error: SwitchboardClientError }];
  /** Seqs that never arrived within `gapTimeoutMs`; later messages were delivered without them. */
  'messages:skipped': [skip: { conversationId: ConversationId; seqs: Seq[] }];
  /** An event your backend pushed (`POST /v1/push`), under the name it chose. */
  push: [push: { event: string; data: unknown; envelope: Envelope }];
  /** Background failures (refused handshakes, failed acks or history reads, throwing handlers). */
  error: [error: SwitchboardClientError];
} & { [K in PassThroughEvent]: [data: ServerEventMap[K], envelope: Envelope<ServerEventMap[K]>] };

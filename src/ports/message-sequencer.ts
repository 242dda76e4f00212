import type { ConversationId, Seq, TenantId } from '../domain/ids.js';
import type { Message } from '../domain/model.js';
import type { NewMessage } from './message-store.js';

/**
 * Accepts messages into their conversation before they are durable anywhere else: the
 * dedup check, the sequence number and a recent tail that reads use until the store has
 * caught up (read-after-write while the processor writes asynchronously).
 *
 * Guarantees:
 * - `accept` is atomic: a repeat of (conversation, sender, clientMessageId) within the
 *   dedup window (at least the inbox retention) returns the first message with
 *   `duplicate: true`; otherwise the message gets the conversation's next seq (1, 2, 3…,
 *   never repeated) and enters the tail.
 * - A message stays in the tail until `stored` covers its seq.
 *
 * A sequencer that `storesOnAccept` (the embedded journal, docs/decisions/005) writes the
 * message into the store in the same atomic step: the message needs no durable log and no
 * processor, its tail is always empty, and a client message id is remembered for as long as
 * its message is stored.
 */
export interface MessageSequencer {
  /** Whether `accept` also stores the message, durably, so that nothing else has to. */
  readonly storesOnAccept: boolean;
  accept(message: NewMessage): Promise<{ message: Message; duplicate: boolean }>;
  /** Accepted messages the store may not have yet, ascending by seq. */
  recent(tenantId: TenantId, conversationId: ConversationId): Promise<Message[]>;
  /** The newest seq of each conversation (0 for one without messages). */
  lastSeqs(tenantId: TenantId, conversationIds: readonly ConversationId[]): Promise<Map<ConversationId, Seq>>;
  /** The store has these messages: they leave the tail. */
  stored(messages: readonly Message[]): Promise<void>;
}

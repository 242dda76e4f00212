import type { TenantId } from '../ids.js';

/** The protocol version this server speaks; clients send it as `auth.v`. */
export const PROTOCOL_VERSION = 1;
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [PROTOCOL_VERSION];

/** `message`: chat content. `event`: state changes (typing, presence, receipts, pushes). `error`: an unsolicited error. */
export type EnvelopeType = 'message' | 'event' | 'error';

/**
 * Every server→client event carries this envelope (seed 001 §1.2), emitted under the
 * Socket.IO event name equal to `payload.action`.
 */
export interface Envelope<D = unknown> {
  v: number;
  type: EnvelopeType;
  id: string;
  tenant_id: TenantId;
  timestamp: number;
  payload: { action: string; data: D };
  /** The event's position in the recipient's inbox, on events kept there (docs/protocol.md §12). */
  offset?: number;
}

/** The answer to every client→server event that carries an acknowledgement callback. */
export type Ack<D = unknown> =
  | { ok: true; data: D }
  | { ok: false; error: import('../errors.js').ErrorBody };

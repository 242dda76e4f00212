import type { BackoffOptions } from './backoff.js';
import type { ClientStorage } from './storage.js';
import type { TypingOptions } from './typing.js';

/** Options of {@link createClient}. Only `url` and `token` are required. */
export interface ClientOptions {
  /** The server's root URL, e.g. `https://chat.example.com`. */
  url: string;
  /**
   * The access token (JWT), or a function returning one. A function is called before every
   * handshake, so it can hand out a cached token and fetch a new one when it is about to expire.
   */
  token: string | (() => string | Promise<string>);
  /**
   * Returns a fresh token: used on `auth:expiring` (sent to the server with `auth:refresh`)
   * and before reconnecting after `TOKEN_EXPIRED`/`AUTH_EXPIRED`. Default: `token` when it is
   * a function; with a fixed string token and no `refreshToken`, an expired session stays down.
   */
  refreshToken?: () => string | Promise<string>;
  /** Names this device when the token has no `did` claim (default: none; each connection is its own device). */
  deviceId?: string;
  /** Socket.IO transports, in order of preference (default `['websocket', 'polling']`). */
  transports?: ('websocket' | 'polling' | 'webtransport')[];
  /** Socket.IO path (default `/socket.io`). */
  path?: string;
  /** Where the inbox position, seqs and outbox survive restarts (default: in memory). */
  storage?: ClientStorage;
  /** Prefix of the storage keys; use one per user when several users share a storage (default `switchboard`). */
  storageKey?: string;
  /** Connect at once (default `true`); otherwise call {@link SwitchboardClient.connect}. */
  autoConnect?: boolean;
  /** Reconnection delays: full jitter over [0, min(maxMs, baseMs·2ⁿ)) (default 500 ms, 30 s). */
  reconnectBackoff?: BackoffOptions;
  /** Delays between resends of a message after a timeout or a retryable error (default 500 ms, 30 s). */
  sendBackoff?: BackoffOptions;
  /** How long to wait for the answer to one `message:send` before sending it again (default 10 000 ms). */
  sendTimeoutMs?: number;
  /** How long other requests wait for a connection and an answer (default 10 000 ms). */
  requestTimeoutMs?: number;
  /** How long one handshake may take (default 20 000 ms). */
  connectTimeoutMs?: number;
  /** How often inbox acknowledgements are sent at most (default 100 ms). */
  ackIntervalMs?: number;
  /** How long messages wait behind a missing seq before being delivered anyway (default 10 000 ms). */
  gapTimeoutMs?: number;
  /** Page size of the history reads that fill gaps, 1–100 (default 100). */
  historyPageSize?: number;
  /** Typing indicator throttling. */
  typing?: TypingOptions;
}

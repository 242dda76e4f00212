/**
 * Why the server closed a connection, and whether the client should reconnect.
 * Sent as the `session:disconnect` event right before the server closes the socket.
 */
export const DISCONNECT_REASONS = {
  TOKEN_EXPIRED: { reconnect: true, message: 'The access token expired; reconnect with a fresh token' },
  POLICY_VIOLATION: { reconnect: false, message: 'Too many rejected events; the connection was closed' },
  SERVER_SHUTDOWN: { reconnect: true, message: 'The server is shutting down; reconnect elsewhere' },
  KICKED: { reconnect: false, message: 'The connection was closed by an administrator' },
} as const satisfies Record<string, { reconnect: boolean; message: string }>;

export type DisconnectCode = keyof typeof DISCONNECT_REASONS;

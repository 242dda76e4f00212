/**
 * The closed set of error codes. Every failure that reaches a client or the backend
 * carries one of these codes, with a stable HTTP status and whether retrying the
 * same request can succeed.
 */
export const ERROR_CODES = {
  AUTH_REQUIRED: { status: 401, retryable: false, message: 'An access token is required' },
  AUTH_INVALID: { status: 401, retryable: false, message: 'The access token is invalid' },
  AUTH_EXPIRED: { status: 401, retryable: false, message: 'The access token has expired' },
  AUTH_MISMATCH: { status: 403, retryable: false, message: 'The new token belongs to another user or tenant' },
  API_KEY_INVALID: { status: 401, retryable: false, message: 'A valid API key is required' },
  PROTOCOL_UNSUPPORTED: { status: 400, retryable: false, message: 'This protocol version is not supported' },
  VALIDATION_FAILED: { status: 400, retryable: false, message: 'The request is invalid' },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, message: 'The payload is too large' },
  UNKNOWN_EVENT: { status: 400, retryable: false, message: 'This event is not known' },
  ACK_REQUIRED: { status: 400, retryable: false, message: 'This event must be sent with an acknowledgement callback' },
  RATE_LIMITED: { status: 429, retryable: true, message: 'Too many requests; slow down' },
  TOO_MANY_CONNECTIONS: { status: 429, retryable: true, message: 'Too many connections for this user' },
  FORBIDDEN: { status: 403, retryable: false, message: 'This action is not allowed' },
  NOT_A_MEMBER: { status: 403, retryable: false, message: 'Only members of the conversation may do this' },
  NOT_FOUND: { status: 404, retryable: false, message: 'Not found' },
  CONFLICT: { status: 409, retryable: false, message: 'The request conflicts with the current state' },
  UNAVAILABLE: { status: 503, retryable: true, message: 'The service is temporarily unavailable' },
  INTERNAL: { status: 500, retryable: true, message: 'Internal error' },
} as const satisfies Record<string, { status: number; retryable: boolean; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The wire shape of an error (seed 002 `ErrorResponse.error`). */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  details?: unknown;
  timestamp: string;
  requestId?: string;
}

/** An error that is data: a code from the closed set, a message and optional details. */
export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, details?: unknown) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'SwitchboardError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}

/** Turns any thrown value into the wire error body; unknown failures become INTERNAL. */
export function toErrorBody(err: unknown, now: Date, requestId?: string): ErrorBody {
  const e = err instanceof SwitchboardError ? err : new SwitchboardError('INTERNAL');
  const body: ErrorBody = {
    code: e.code,
    message: e.message,
    retryable: e.retryable,
    timestamp: now.toISOString(),
  };
  if (e.details !== undefined) body.details = e.details;
  if (requestId !== undefined) body.requestId = requestId;
  return body;
}

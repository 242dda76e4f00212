import type { ErrorBody, ServerErrorCode } from './protocol.js';

/**
 * Codes the SDK adds to the server's: `TIMEOUT` (no answer in time), `DISCONNECTED`
 * (not connected and not coming back in time), `CLOSED` (the client was closed).
 * All three are retryable except `CLOSED`.
 */
export type ClientErrorCode = 'TIMEOUT' | 'DISCONNECTED' | 'CLOSED';

export type SwitchboardErrorCode = ServerErrorCode | ClientErrorCode;

/** Every failure the SDK reports: a stable code, whether retrying may help, and the server's details. */
export class SwitchboardClientError extends Error {
  readonly code: SwitchboardErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: SwitchboardErrorCode, message: string, retryable: boolean, details?: unknown) {
    super(message);
    this.name = 'SwitchboardClientError';
    this.code = code;
    this.retryable = retryable;
    this.details = details;
  }

  /** The error of a refused event or handshake. */
  static fromBody(body: ErrorBody): SwitchboardClientError {
    return new SwitchboardClientError(body.code, body.message, body.retryable, body.details);
  }

  static timeout(what: string): SwitchboardClientError {
    return new SwitchboardClientError('TIMEOUT', `${what}: no answer in time`, true);
  }

  static disconnected(what: string): SwitchboardClientError {
    return new SwitchboardClientError('DISCONNECTED', `${what}: not connected`, true);
  }

  static closed(): SwitchboardClientError {
    return new SwitchboardClientError('CLOSED', 'The client was closed', false);
  }
}

/** Any thrown value as a SwitchboardClientError (unknown failures are retryable `INTERNAL`). */
export function toClientError(err: unknown): SwitchboardClientError {
  if (err instanceof SwitchboardClientError) return err;
  return new SwitchboardClientError('INTERNAL', err instanceof Error ? err.message : String(err), true);
}

/** How long the server asked to wait (`details.retryAfterMs` of `RATE_LIMITED`), else 0. */
export function retryAfter(err: SwitchboardClientError): number {
  const ms = (err.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof ms === 'number' ? ms : 0;
}

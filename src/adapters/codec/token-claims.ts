import { SwitchboardError } from '../../domain/errors.js';
import { asDeviceId, asTenantId, asUserId, ID_PATTERN } from '../../domain/ids.js';
import type { TokenClaims } from '../../ports/token-verifier.js';

/** Options every token verifier takes besides its keys. */
export interface TokenCheckOptions {
  /** Required `iss`, when set. */
  issuer?: string;
  /** Required `aud`, when set. */
  audience?: string;
}

/** Switchboard's claims from a verified JWT payload: `sub` user, `tid` tenant, `did` device, `exp`. */
export function claimsOf(payload: Record<string, unknown>): TokenClaims {
  const { sub, tid, did, exp } = payload;
  if (typeof sub !== 'string' || !ID_PATTERN.test(sub)) throw new SwitchboardError('AUTH_INVALID', 'The token has no valid `sub` (user id)');
  if (typeof tid !== 'string' || !ID_PATTERN.test(tid)) throw new SwitchboardError('AUTH_INVALID', 'The token has no valid `tid` (tenant id)');
  if (did !== undefined && (typeof did !== 'string' || !ID_PATTERN.test(did))) throw new SwitchboardError('AUTH_INVALID', 'The token `did` (device id) is invalid');
  return {
    tenantId: asTenantId(tid),
    userId: asUserId(sub),
    deviceId: typeof did === 'string' ? asDeviceId(did) : null,
    expiresAt: typeof exp === 'number' ? exp * 1000 : null,
  };
}

/** The error for a token that failed verification. */
export function rejectedToken(expired: boolean, err: unknown): SwitchboardError {
  if (expired) return new SwitchboardError('AUTH_EXPIRED');
  return new SwitchboardError('AUTH_INVALID', 'The access token is invalid', { reason: err instanceof Error ? err.message : 'unreadable token' });
}

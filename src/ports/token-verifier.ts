import type { DeviceId, TenantId, UserId } from '../domain/ids.js';

export interface TokenClaims {
  tenantId: TenantId;
  userId: UserId;
  /** Present when the token names a device (`did`). */
  deviceId: DeviceId | null;
  /** Expiry, epoch milliseconds; null when the token never expires. */
  expiresAt: number | null;
}

/**
 * Verifies access tokens. Rejects with a SwitchboardError: AUTH_EXPIRED for an expired
 * token, AUTH_INVALID for anything else wrong with it.
 */
export interface TokenVerifier {
  verify(token: string): Promise<TokenClaims>;
}

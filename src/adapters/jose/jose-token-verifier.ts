import { webcrypto } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { SwitchboardError } from '../../domain/errors.js';
import { asDeviceId, asTenantId, asUserId, ID_PATTERN } from '../../domain/ids.js';
import type { TokenClaims, TokenVerifier } from '../../ports/token-verifier.js';

export interface JoseTokenVerifierOptions {
  /** HS256 shared secret. One of `secret` or `jwksUrl` is required. */
  secret?: string;
  /** JWKS endpoint for RS256/ES256 tokens. */
  jwksUrl?: string;
  /** Required `iss`, when set. */
  issuer?: string;
  /** Required `aud`, when set. */
  audience?: string;
}

/** Verifies JWTs (`sub` user, `tid` tenant, `did` device, `exp`) with jose. */
export function createJoseTokenVerifier(options: JoseTokenVerifierOptions): TokenVerifier {
  // The HMAC key is imported once: given raw bytes, jose would import it again for every token.
  const key: Promise<webcrypto.CryptoKey> | JWTVerifyGetKey = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl))
    : webcrypto.subtle.importKey('raw', new TextEncoder().encode(options.secret ?? ''), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const algorithms = options.jwksUrl ? ['RS256', 'ES256'] : ['HS256'];
  return {
    async verify(token: string): Promise<TokenClaims> {
      let payload: JWTPayload;
      try {
        const verifyOptions = { algorithms, issuer: options.issuer, audience: options.audience };
        payload = (typeof key === 'function' ? await jwtVerify(token, key, verifyOptions) : await jwtVerify(token, await key, verifyOptions)).payload;
      } catch (err) {
        if (err instanceof errors.JWTExpired) throw new SwitchboardError('AUTH_EXPIRED');
        throw new SwitchboardError('AUTH_INVALID', 'The access token is invalid', { reason: err instanceof Error ? err.message : 'unreadable token' });
      }
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
    },
  };
}

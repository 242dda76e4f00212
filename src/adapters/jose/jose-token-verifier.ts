import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type { TokenVerifier } from '../../ports/token-verifier.js';
import { claimsOf, rejectedToken, type TokenCheckOptions } from '../codec/token-claims.js';

export interface JoseTokenVerifierOptions extends TokenCheckOptions {
  /** JWKS endpoint for RS256/ES256 tokens. */
  jwksUrl: string;
}

/** Verifies RS256/ES256 JWTs against a JWKS endpoint with jose (keys fetched and cached by jose). */
export function createJoseTokenVerifier(options: JoseTokenVerifierOptions): TokenVerifier {
  const keys = createRemoteJWKSet(new URL(options.jwksUrl));
  const verifyOptions = { algorithms: ['RS256', 'ES256'], issuer: options.issuer, audience: options.audience };
  return {
    async verify(token: string) {
      let payload: JWTPayload;
      try {
        payload = (await jwtVerify(token, keys, verifyOptions)).payload;
      } catch (err) {
        throw rejectedToken(err instanceof errors.JWTExpired, err);
      }
      return claimsOf(payload);
    },
  };
}

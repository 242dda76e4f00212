import { createVerifier, TokenError } from 'fast-jwt';
import type { TokenVerifier } from '../../ports/token-verifier.js';
import { claimsOf, rejectedToken, type TokenCheckOptions } from '../codec/token-claims.js';

export interface FastJwtTokenVerifierOptions extends TokenCheckOptions {
  /** HS256 shared secret. */
  secret: string;
}

/**
 * Verifies HS256 JWTs with a shared secret, with fast-jwt: a synchronous `node:crypto` HMAC
 * (about 10 µs a token here, against about 110 µs for WebCrypto through jose), which is the
 * largest single cost of a connect.
 */
export function createFastJwtTokenVerifier(options: FastJwtTokenVerifierOptions): TokenVerifier {
  const verify = createVerifier({
    key: options.secret,
    algorithms: ['HS256'],
    ...(options.issuer === undefined ? {} : { allowedIss: options.issuer }),
    ...(options.audience === undefined ? {} : { allowedAud: options.audience }),
  });
  return {
    async verify(token: string) {
      let payload: Record<string, unknown>;
      try {
        payload = verify(token) as Record<string, unknown>;
      } catch (err) {
        throw rejectedToken(err instanceof TokenError && err.code === TokenError.codes.expired, err);
      }
      return claimsOf(payload);
    },
  };
}

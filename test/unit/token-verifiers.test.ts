import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK } from 'jose';
import { createFastJwtTokenVerifier } from '../../src/adapters/fast-jwt/fast-jwt-token-verifier.js';
import { createJoseTokenVerifier } from '../../src/adapters/jose/jose-token-verifier.js';
import { SwitchboardError } from '../../src/domain/errors.js';
import type { TokenVerifier } from '../../src/ports/token-verifier.js';

const SECRET = 'k'.repeat(32);
const hs256 = (claims: Record<string, unknown>, secret = SECRET) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

async function rejection(verifier: TokenVerifier, token: string): Promise<string> {
  try {
    await verifier.verify(token);
  } catch (err) {
    assert.ok(err instanceof SwitchboardError, 'rejects with the documented error');
    return err.code;
  }
  assert.fail('the token was accepted');
}

describe('HS256 token verifier (fast-jwt)', () => {
  const verifier = createFastJwtTokenVerifier({ secret: SECRET, issuer: 'https://id.example', audience: 'switchboard' });
  const valid = { sub: 'alice', tid: 'acme', did: 'phone', iss: 'https://id.example', aud: 'switchboard' };

  it('returns the claims of a valid token', async () => {
    const exp = inAnHour();
    assert.deepEqual(await verifier.verify(await hs256({ ...valid, exp })), { tenantId: 'acme', userId: 'alice', deviceId: 'phone', expiresAt: exp * 1000 });
  });

  it('refuses expired, forged, unsigned, foreign and incomplete tokens with AUTH_EXPIRED or AUTH_INVALID', async () => {
    assert.equal(await rejection(verifier, await hs256({ ...valid, exp: Math.floor(Date.now() / 1000) - 60 })), 'AUTH_EXPIRED');
    assert.equal(await rejection(verifier, await hs256({ ...valid, exp: inAnHour() }, 'another-secret-0123456789abcdef')), 'AUTH_INVALID');
    assert.equal(await rejection(verifier, new UnsecuredJWT({ ...valid, exp: inAnHour() }).encode()), 'AUTH_INVALID');
    assert.equal(await rejection(verifier, await hs256({ ...valid, iss: 'https://evil.example' })), 'AUTH_INVALID');
    assert.equal(await rejection(verifier, await hs256({ ...valid, aud: 'other' })), 'AUTH_INVALID');
    assert.equal(await rejection(verifier, await hs256({ ...valid, tid: undefined })), 'AUTH_INVALID');
    assert.equal(await rejection(verifier, await hs256({ ...valid, sub: 'has space' })), 'AUTH_INVALID');
    assert.equal(await rejection(verifier, 'not-a-jwt'), 'AUTH_INVALID');
  });
});

describe('JWKS token verifier (jose)', () => {
  let server: Server;
  let url: string;
  let key: CryptoKey;
  let other: CryptoKey;
  before(async () => {
    const signing = await generateKeyPair('ES256', { extractable: true });
    key = signing.privateKey;
    ({ privateKey: other } = await generateKeyPair('ES256'));
    const jwk: JWK = { ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'ES256' };
    server = createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  after(() => server.close());

  const es256 = (claims: Record<string, unknown>, signer: CryptoKey) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(signer);

  it('verifies tokens signed by a key of the set, and refuses others', async () => {
    const verifier = createJoseTokenVerifier({ jwksUrl: url });
    assert.deepEqual(await verifier.verify(await es256({ sub: 'bob', tid: 'acme' }, key)), { tenantId: 'acme', userId: 'bob', deviceId: null, expiresAt: null });
    assert.equal(await rejection(verifier, await es256({ sub: 'bob', tid: 'acme' }, other)), 'AUTH_INVALID');
    assert.equal(await rejection(verifier, await es256({ sub: 'bob', tid: 'acme', exp: Math.floor(Date.now() / 1000) - 60 }, key)), 'AUTH_EXPIRED');
    assert.equal(await rejection(verifier, await hs256({ sub: 'bob', tid: 'acme' })), 'AUTH_INVALID');
  });
});

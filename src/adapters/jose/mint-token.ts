import { SignJWT } from 'jose';

export interface MintOptions {
  secret: string;
  user: string;
  tenant: string;
  device?: string;
  /** Lifetime in seconds (default one hour). */
  ttlSeconds?: number;
}

/** Signs an HS256 access token with the claims Switchboard reads: sub, tid, did, exp. */
export async function mintToken(o: MintOptions): Promise<string> {
  const jwt = new SignJWT({ tid: o.tenant, ...(o.device ? { did: o.device } : {}) })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(o.user)
    .setIssuedAt()
    .setExpirationTime(`${o.ttlSeconds ?? 3600}s`);
  return jwt.sign(new TextEncoder().encode(o.secret));
}

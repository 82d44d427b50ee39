/**
 * Service-account tokens: TokenRequest issues an HS256 JWT bound to a pod, TokenReview checks
 * one. The key lives in the state dir so tokens survive an API server restart.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const issuer = 'https://kubernetes.default.svc.cluster.local';

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
  };
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export class TokenSigner {
  private readonly key: Buffer;

  constructor(dir: string) {
    const file = path.join(dir, 'token.key');
    mkdirSync(dir, { recursive: true });
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
    this.key = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  }

  sign(claims: TokenClaims): string {
    const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: 'ambit-lab' }));
    const body = b64url(JSON.stringify(claims));
    const sig = createHmac('sha256', this.key).update(`${head}.${body}`).digest();
    return `${head}.${body}.${b64url(sig)}`;
  }

  /** The claims of a well-signed, unexpired token, or the reason it is not one. */
  verify(token: string, now = Date.now()): TokenClaims | string {
    const parts = token.split('.');
    if (parts.length !== 3) return 'not a JWT';
    const [head, body, sig] = parts as [string, string, string];
    const want = createHmac('sha256', this.key).update(`${head}.${body}`).digest();
    const got = Buffer.from(sig, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return 'invalid signature';
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return 'unparseable claims';
    }
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= now) return 'token has expired';
    if (!claims['kubernetes.io']?.serviceaccount) return 'not a service-account token';
    return claims;
  }
}

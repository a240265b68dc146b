import { randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { isUsername } from '@securechat/common';
import { ALGORITHM, type SigningKey } from './keys';

export const TOKEN_TYPE = 'access';
/** A verifier refuses tokens whose exp - iat exceeds this, whatever their signature. */
export const MAX_LIFETIME_S = 86400;

export interface AccessClaims {
  readonly sub: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  /** Refresh family the token was issued from, when it came from a login or refresh. */
  readonly fam?: string;
}

export interface IssuedToken {
  readonly token: string;
  readonly jti: string;
  readonly exp: number;
  readonly expiresIn: number;
}

export type TokenErrorCode =
  'malformed' | 'bad_header' | 'unknown_key' | 'bad_signature' | 'expired' | 'not_yet_valid' | 'bad_claims';

export class TokenError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface TokenSettings {
  issuer: string;
  audience: string;
}

export class TokenIssuer {
  constructor(
    private readonly key: SigningKey,
    private readonly settings: TokenSettings & { ttlS: number },
    private readonly now: () => number = Date.now,
  ) {
    if (settings.ttlS > MAX_LIFETIME_S) throw new Error('access token lifetime over the cap');
  }

  issue(subject: string, family?: string): IssuedToken {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + this.settings.ttlS;
    const jti = randomUUID();
    const payload: Record<string, unknown> = {
      sub: subject,
      jti,
      iat,
      exp,
      typ: TOKEN_TYPE,
      iss: this.settings.issuer,
      aud: this.settings.audience,
    };
    if (family !== undefined) payload.fam = family;
    const token = jwt.sign(payload, this.key.privateKey, {
      algorithm: ALGORITHM,
      keyid: this.key.kid,
      header: { alg: ALGORITHM, typ: 'JWT', kid: this.key.kid },
    });
    return { token, jti, exp, expiresIn: this.settings.ttlS };
  }
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Verifies access tokens against a fixed set of public keys. The algorithm is pinned,
 * the kid is looked up only in the in-memory map, `exp` must be a number, the lifetime
 * is capped, and `typ`, `iss` and `aud` must match. `jku`, `x5u` and embedded `jwk`
 * headers are never read.
 */
export class TokenVerifier {
  private readonly keys: ReadonlyMap<string, KeyObject>;

  constructor(
    keys: ReadonlyMap<string, KeyObject>,
    private readonly settings: TokenSettings & { clockToleranceS?: number },
    private readonly now: () => number = Date.now,
  ) {
    this.keys = new Map(keys);
  }

  verify(token: unknown): AccessClaims {
    if (typeof token !== 'string' || token.length > 4096 || !JWT_SHAPE.test(token)) {
      throw new TokenError('malformed', 'not a signed JWT');
    }
    let decoded: jwt.Jwt | null;
    try {
      decoded = jwt.decode(token, { complete: true });
    } catch {
      // jws.decode JSON-parses the payload without a guard when the header says typ JWT.
      throw new TokenError('malformed', 'not a JWT');
    }
    if (decoded === null || typeof decoded.payload === 'string') {
      throw new TokenError('malformed', 'not a JWT');
    }
    const { alg, kid } = decoded.header;
    if (alg !== ALGORITHM) throw new TokenError('bad_header', 'algorithm not allowed');
    // RFC 7515: a critical extension this verifier does not implement must be refused.
    if ('crit' in decoded.header) throw new TokenError('bad_header', 'critical header extension');
    if (typeof kid !== 'string') throw new TokenError('bad_header', 'no kid');
    const key = this.keys.get(kid);
    if (key === undefined) throw new TokenError('unknown_key', 'unknown kid');
    let payload: string | jwt.JwtPayload;
    try {
      payload = jwt.verify(token, key, {
        algorithms: [ALGORITHM],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: this.settings.clockToleranceS ?? 5,
        clockTimestamp: Math.floor(this.now() / 1000),
      });
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw new TokenError('expired', 'token expired');
      if (err instanceof jwt.NotBeforeError) throw new TokenError('not_yet_valid', 'token not yet valid');
      const message = err instanceof Error ? err.message : '';
      if (/signature/i.test(message)) throw new TokenError('bad_signature', 'bad signature');
      throw new TokenError('bad_claims', 'token refused');
    }
    if (typeof payload === 'string') throw new TokenError('malformed', 'not a JSON payload');
    const { sub, jti, iat, exp, typ, fam } = payload as Record<string, unknown>;
    // jsonwebtoken only checks exp when present; a token without one never expires.
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new TokenError('bad_claims', 'no exp');
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new TokenError('bad_claims', 'no iat');
    if (exp - iat > MAX_LIFETIME_S || exp <= iat) throw new TokenError('bad_claims', 'lifetime refused');
    const nowS = this.now() / 1000;
    if (iat > nowS + (this.settings.clockToleranceS ?? 5)) {
      throw new TokenError('not_yet_valid', 'issued in the future');
    }
    if (typ !== TOKEN_TYPE) throw new TokenError('bad_claims', 'wrong typ');
    // A username in its stored (lower-case) form: the same rule as registration's.
    if (typeof sub !== 'string' || !isUsername(sub)) {
      throw new TokenError('bad_claims', 'bad sub');
    }
    if (typeof jti !== 'string' || !/^[A-Za-z0-9_-]{8,64}$/.test(jti)) {
      throw new TokenError('bad_claims', 'bad jti');
    }
    if (fam !== undefined && (typeof fam !== 'string' || !/^[A-Za-z0-9_-]{8,64}$/.test(fam))) {
      throw new TokenError('bad_claims', 'bad fam');
    }
    return Object.freeze({ sub, jti, iat, exp, ...(fam !== undefined ? { fam } : {}) });
  }
}

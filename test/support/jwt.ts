import { createHmac, sign, type KeyObject } from 'node:crypto';
import { generateSigningKey, toJwk, type SigningKey, type TokenErrorCode } from '@securechat/tokens';

export const b64url = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export function decodePart(token: string, index: 0 | 1): Record<string, unknown> {
  const part = token.split('.')[index] ?? '';
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** An ES256 JWS made by hand (JOSE signatures are r||s, not DER). */
export function signEs256(header: unknown, payload: unknown, key: KeyObject): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

export function signHs256(header: unknown, payload: unknown, secret: string | Buffer): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export interface ClaimSettings {
  issuer: string;
  audience: string;
}

/** The claims a legitimate access token carries, for `sub`, now. */
export function goodClaims(
  settings: ClaimSettings,
  sub = 'alice',
  nowS = Math.floor(Date.now() / 1000),
): Record<string, unknown> {
  return {
    sub,
    jti: 'f0rged00-0000-4000-8000-000000000000',
    iat: nowS,
    exp: nowS + 300,
    typ: 'access',
    iss: settings.issuer,
    aud: settings.audience,
  };
}

export interface Forgery {
  name: string;
  token: string;
  /** The TokenError code the verifier must give. */
  code: TokenErrorCode;
}

/**
 * Every token an attacker might try against a node whose signing key is `key`. None
 * may be accepted: each is refused with `code`.
 */
export function forgeries(key: SigningKey, settings: ClaimSettings, sub = 'alice'): Forgery[] {
  const claims = goodClaims(settings, sub);
  const header = { alg: 'ES256', typ: 'JWT', kid: key.kid };
  const good = signEs256(header, claims, key.privateKey);
  const [h, p, s] = good.split('.') as [string, string, string];
  const attacker = generateSigningKey();
  const publicPem = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const publicJwk = JSON.stringify({ keys: [toJwk(key.publicKey)] });
  const signed = (over: Record<string, unknown>, hdr: Record<string, unknown> = header) =>
    signEs256(hdr, { ...claims, ...over }, key.privateKey);
  const without = (name: string) => {
    const copy = { ...claims };
    delete copy[name];
    return signEs256(header, copy, key.privateKey);
  };
  const list: Forgery[] = [];
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    list.push({
      name: `alg ${alg}, empty signature`,
      token: `${b64url({ alg, typ: 'JWT', kid: key.kid })}.${p}.`,
      code: 'malformed',
    });
    list.push({
      name: `alg ${alg}, the real signature kept`,
      token: `${b64url({ alg, typ: 'JWT', kid: key.kid })}.${p}.${s}`,
      code: 'bad_header',
    });
  }
  list.push(
    {
      name: 'tampered payload (sub changed, signature kept)',
      token: `${h}.${b64url({ ...claims, sub: 'mallory' })}.${s}`,
      code: 'bad_signature',
    },
    {
      name: 'tampered payload (exp extended, signature kept)',
      token: `${h}.${b64url({ ...claims, exp: Number(claims.exp) + 3600 })}.${s}`,
      code: 'bad_signature',
    },
    { name: 'stripped signature', token: `${h}.${p}.`, code: 'malformed' },
    { name: 'signature segment removed', token: `${h}.${p}`, code: 'malformed' },
    {
      name: 'signature of another token',
      token: `${h}.${p}.${signed({ sub: 'bob' }).split('.')[2]}`,
      code: 'bad_signature',
    },
    {
      name: 'HS256 with the public key PEM as the HMAC secret',
      token: signHs256({ alg: 'HS256', typ: 'JWT', kid: key.kid }, claims, publicPem),
      code: 'bad_header',
    },
    {
      name: 'HS256 with the JWKS text as the HMAC secret',
      token: signHs256({ alg: 'HS256', typ: 'JWT', kid: key.kid }, claims, publicJwk),
      code: 'bad_header',
    },
    {
      name: 'RS256 claimed',
      token: `${b64url({ alg: 'RS256', typ: 'JWT', kid: key.kid })}.${p}.${s}`,
      code: 'bad_header',
    },
    {
      name: 'kid path traversal',
      token: signEs256({ ...header, kid: '../../etc/passwd' }, claims, key.privateKey),
      code: 'unknown_key',
    },
    {
      name: 'kid as a URL',
      token: signEs256({ ...header, kid: 'http://127.0.0.1:9/key.pem' }, claims, key.privateKey),
      code: 'unknown_key',
    },
    {
      name: 'kid __proto__',
      token: signEs256({ ...header, kid: '__proto__' }, claims, key.privateKey),
      code: 'unknown_key',
    },
    {
      name: 'no kid',
      token: signEs256({ alg: 'ES256', typ: 'JWT' }, claims, key.privateKey),
      code: 'bad_header',
    },
    {
      name: 'kid not a string',
      token: signEs256({ ...header, kid: 7 }, claims, key.privateKey),
      code: 'bad_header',
    },
    {
      name: 'unknown kid (a real ES256 key the node does not know)',
      token: signEs256({ ...header, kid: attacker.kid }, claims, attacker.privateKey),
      code: 'unknown_key',
    },
    {
      name: 'jwk and jku headers naming the attacker key',
      token: signEs256(
        { ...header, kid: attacker.kid, jwk: toJwk(attacker.publicKey), jku: 'http://127.0.0.1:9/jwks.json' },
        claims,
        attacker.privateKey,
      ),
      code: 'unknown_key',
    },
    {
      name: 'the real kid, signed by the attacker, attacker jwk/x5u embedded',
      token: signEs256(
        { ...header, jwk: toJwk(attacker.publicKey), x5u: 'http://127.0.0.1:9/cert.pem' },
        claims,
        attacker.privateKey,
      ),
      code: 'bad_signature',
    },
    { name: 'no exp', token: without('exp'), code: 'bad_claims' },
    { name: 'exp as a string', token: signed({ exp: String(claims.exp) }), code: 'bad_claims' },
    { name: 'no iat', token: without('iat'), code: 'bad_claims' },
    { name: 'no typ', token: without('typ'), code: 'bad_claims' },
    { name: 'typ refresh', token: signed({ typ: 'refresh' }), code: 'bad_claims' },
    { name: 'typ Access (case)', token: signed({ typ: 'Access' }), code: 'bad_claims' },
    { name: 'wrong aud', token: signed({ aud: 'someone-else' }), code: 'bad_claims' },
    { name: 'no aud', token: without('aud'), code: 'bad_claims' },
    { name: 'wrong iss', token: signed({ iss: 'evil' }), code: 'bad_claims' },
    { name: 'no jti', token: without('jti'), code: 'bad_claims' },
    { name: 'no sub', token: without('sub'), code: 'bad_claims' },
    {
      name: 'lifetime over the 24 h cap',
      token: signed({ exp: Number(claims.iat) + 86401 }),
      code: 'bad_claims',
    },
    {
      name: 'expired',
      token: signed({ iat: Number(claims.iat) - 1000, exp: Number(claims.iat) - 100 }),
      code: 'expired',
    },
    {
      name: 'issued in the future',
      token: signed({ iat: Number(claims.iat) + 600, exp: Number(claims.iat) + 900 }),
      code: 'not_yet_valid',
    },
    { name: 'crit header', token: signed({}, { ...header, crit: ['exp'] }), code: 'bad_header' },
    {
      name: 'payload not JSON (typ JWT header)',
      token: `${h}.${b64url('not json{')}.${s}`,
      code: 'malformed',
    },
    { name: 'payload a JSON string', token: `${h}.${b64url('"alice"')}.${s}`, code: 'malformed' },
    { name: 'header not JSON', token: `${b64url('{alg')}.${p}.${s}`, code: 'malformed' },
    { name: 'four segments', token: `${good}.${s}`, code: 'malformed' },
    { name: 'padding characters', token: `${h}=.${p}.${s}`, code: 'malformed' },
    {
      name: 'oversized token',
      token: `${h}.${b64url({ ...claims, pad: 'x'.repeat(5000) })}.${s}`,
      code: 'malformed',
    },
    { name: 'empty string', token: '', code: 'malformed' },
  );
  return list;
}

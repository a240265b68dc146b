import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The one signing algorithm. Verification accepts nothing else. */
export const ALGORITHM = 'ES256';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: typeof ALGORITHM;
  use: 'sig';
}

/** RFC 7638 thumbprint: the kid is derived from the key, so it cannot disagree with it. */
export function thumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new Error('the key is not an EC P-256 key');
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

function signingKeyFrom(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ec') {
    throw new Error('the signing key must be an EC P-256 private key (npm run keys)');
  }
  const publicKey = createPublicKey(privateKey);
  return Object.freeze({ kid: thumbprint(publicKey), privateKey, publicKey });
}

export function generateSigningKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return signingKeyFrom(privateKey);
}

export function loadSigningKey(file: string): SigningKey {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read JWT_PRIVATE_KEY_FILE: ${(err as NodeJS.ErrnoException).code}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new Error('JWT_PRIVATE_KEY_FILE does not hold a PEM private key');
  }
  return signingKeyFrom(key);
}

export function privateKeyPem(key: SigningKey): string {
  return key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function toJwk(publicKey: KeyObject): PublicJwk {
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    kty: 'EC',
    crv: 'P-256',
    x: String(jwk.x),
    y: String(jwk.y),
    kid: thumbprint(publicKey),
    alg: ALGORITHM,
    use: 'sig',
  };
}

export function toJwks(publicKeys: readonly KeyObject[]): { keys: PublicJwk[] } {
  return { keys: publicKeys.map(toJwk) };
}

/**
 * Parses a JWKS document into kid -> public key. Only EC P-256 keys for ES256 are
 * taken; a kid that does not match the key's own thumbprint is refused.
 */
export function parseJwks(raw: unknown): Map<string, KeyObject> {
  if (typeof raw !== 'object' || raw === null || !Array.isArray((raw as { keys?: unknown }).keys)) {
    throw new Error('not a JWKS document ({"keys": [...]})');
  }
  const out = new Map<string, KeyObject>();
  for (const entry of (raw as { keys: unknown[] }).keys) {
    if (typeof entry !== 'object' || entry === null) throw new Error('a JWKS entry is not an object');
    const jwk = entry as Record<string, unknown>;
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
      throw new Error('only EC P-256 public keys are accepted');
    }
    if (jwk.alg !== undefined && jwk.alg !== ALGORITHM)
      throw new Error(`only ${ALGORITHM} keys are accepted`);
    if ('d' in jwk) throw new Error('a JWKS entry holds a private key');
    const key = createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } as JsonWebKey,
      format: 'jwk',
    });
    const kid = thumbprint(key);
    if (jwk.kid !== undefined && jwk.kid !== kid) throw new Error('a JWKS kid does not match its key');
    out.set(kid, key);
  }
  if (out.size === 0) throw new Error('the JWKS holds no key');
  return out;
}

export function loadJwksFile(file: string): Map<string, KeyObject> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read JWT_PUBLIC_KEYS_FILE: ${(err as NodeJS.ErrnoException).code}`);
  }
  try {
    return parseJwks(JSON.parse(text) as unknown);
  } catch (err) {
    throw new Error(`JWT_PUBLIC_KEYS_FILE: ${(err as Error).message}`);
  }
}

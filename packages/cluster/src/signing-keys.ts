import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKey, loadSigningKey, privateKeyPem, toJwks } from '@securechat/tokens';
import { KEY_FILES } from './topology';

export interface SigningKeyFiles {
  privateKey: string;
  jwks: string;
  created: boolean;
}

/**
 * The token signing key pair in `dir`, as `npm run keys -- <dir>` writes it, made once:
 * an existing key is kept so that tokens survive a cluster restart.
 */
export function ensureSigningKeys(dir: string): SigningKeyFiles {
  const privateKey = join(dir, KEY_FILES.privateKey);
  const jwks = join(dir, KEY_FILES.jwks);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const created = !existsSync(privateKey);
  const key = created ? generateSigningKey() : loadSigningKey(privateKey);
  if (created) writeFileSync(privateKey, privateKeyPem(key), { mode: 0o600 });
  if (created || !existsSync(jwks)) {
    writeFileSync(jwks, `${JSON.stringify(toJwks([key.publicKey]), null, 2)}\n`, { mode: 0o644 });
  }
  return { privateKey, jwks, created };
}

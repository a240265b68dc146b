#!/usr/bin/env node
/**
 * npm run keys -- <dir>: writes a new signing key (<dir>/private.pem, mode 0600) and the
 * public key set (<dir>/jwks.json). With --keep <old-jwks.json> the new set also holds
 * the old public keys, for a rotation.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateSigningKey, parseJwks, privateKeyPem, toJwks } from './keys';

function main(argv: string[]): void {
  const args = [...argv];
  let keep: string | undefined;
  const keepAt = args.indexOf('--keep');
  if (keepAt >= 0) {
    keep = args[keepAt + 1];
    args.splice(keepAt, 2);
  }
  const dir = args[0];
  if (dir === undefined || args.length !== 1 || (keepAt >= 0 && keep === undefined)) {
    process.stderr.write('usage: npm run keys -- <dir> [--keep <previous jwks.json>]\n');
    process.exit(2);
  }
  const target = resolve(dir);
  mkdirSync(target, { recursive: true, mode: 0o700 });
  const privatePath = join(target, 'private.pem');
  if (existsSync(privatePath)) {
    process.stderr.write(`${privatePath} exists; choose a new directory for a new key\n`);
    process.exit(1);
  }
  const key = generateSigningKey();
  const previous =
    keep !== undefined ? [...parseJwks(JSON.parse(readFileSync(keep, 'utf8')) as unknown).values()] : [];
  const jwks = toJwks([key.publicKey, ...previous.filter((k) => !k.equals(key.publicKey))]);
  writeFileSync(privatePath, privateKeyPem(key), { mode: 0o600 });
  writeFileSync(join(target, 'jwks.json'), `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o644 });
  process.stdout.write(`wrote ${privatePath} and ${join(target, 'jwks.json')} (kid ${key.kid})\n`);
}

main(process.argv.slice(2));

#!/usr/bin/env node
/**
 * npm run keys -- <dir>: writes a new signing key (<dir>/private.pem, mode 0600) and the
 * public key set (<dir>/jwks.json). With --keep <old-jwks.json> the new set also holds
 * the old public keys, for a rotation. Never overwrites either file.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateSigningKey, parseJwks, privateKeyPem, toJwks } from './keys';

const USAGE = 'usage: npm run keys -- <dir> [--keep <previous jwks.json>]';

class UsageError extends Error {}

function parseArgs(argv: string[]): { dir: string; keep: string | undefined } {
  const args = [...argv];
  let keep: string | undefined;
  const keepAt = args.indexOf('--keep');
  if (keepAt >= 0) {
    keep = args[keepAt + 1];
    if (keep === undefined || keep.startsWith('-')) throw new UsageError(USAGE);
    args.splice(keepAt, 2);
  }
  const dir = args[0];
  if (dir === undefined || args.length !== 1 || dir.startsWith('-')) throw new UsageError(USAGE);
  return { dir, keep };
}

function previousKeys(file: string) {
  try {
    return [...parseJwks(JSON.parse(readFileSync(file, 'utf8')) as unknown).values()];
  } catch (err) {
    throw new Error(`--keep ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function main(argv: string[]): void {
  const { dir, keep } = parseArgs(argv);
  const target = resolve(dir);
  const privatePath = join(target, 'private.pem');
  const jwksPath = join(target, 'jwks.json');
  for (const path of [privatePath, jwksPath]) {
    if (existsSync(path)) throw new Error(`${path} exists; choose a new directory for a new key`);
  }
  // Read before anything is written, so a bad --keep leaves no half-made key behind.
  const previous = keep !== undefined ? previousKeys(keep) : [];
  const key = generateSigningKey();
  const jwks = toJwks([key.publicKey, ...previous.filter((k) => !k.equals(key.publicKey))]);
  mkdirSync(target, { recursive: true, mode: 0o700 });
  // 'wx' fails rather than overwrite if another run raced us to the same directory.
  writeFileSync(privatePath, privateKeyPem(key), { mode: 0o600, flag: 'wx' });
  writeFileSync(jwksPath, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o644, flag: 'wx' });
  process.stdout.write(`wrote ${privatePath} and ${jwksPath} (kid ${key.kid})\n`);
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
}

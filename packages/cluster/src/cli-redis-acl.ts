#!/usr/bin/env node
/**
 * npm run redis-acl -- <dir> [--prefix <REDIS_PREFIX>]: writes the Redis users of every
 * role into <dir>: a generated password per role (<role>.password, mode 0600, kept if
 * already there) and the ACL file (users.acl, password hashes only) for Redis's aclfile.
 * docs/DEPLOY.md ("Redis users") says what each role may do and where the files go.
 */
import { resolve } from 'node:path';
import { REDIS_USERNAMES } from '@securechat/state';
import { ensureRedisAcl } from './redis-acl';

const USAGE = 'usage: npm run redis-acl -- <dir> [--prefix <REDIS_PREFIX>]';

class UsageError extends Error {}

function parseArgs(argv: string[]): { dir: string; prefix: string } {
  const args = [...argv];
  let prefix = 'chat:';
  const at = args.indexOf('--prefix');
  if (at >= 0) {
    const value = args[at + 1];
    if (value === undefined || value.startsWith('-')) throw new UsageError(USAGE);
    prefix = value;
    args.splice(at, 2);
  }
  const dir = args[0];
  if (dir === undefined || args.length !== 1 || dir.startsWith('-')) throw new UsageError(USAGE);
  return { dir, prefix };
}

try {
  const { dir, prefix } = parseArgs(process.argv.slice(2));
  const files = ensureRedisAcl(resolve(dir), prefix);
  process.stdout.write(`wrote ${files.aclFile} for prefix ${prefix}\n`);
  for (const [role, file] of Object.entries(files.passwordFiles)) {
    const state = files.created.includes(role as keyof typeof files.passwordFiles) ? 'new' : 'kept';
    process.stdout.write(
      `  ${REDIS_USERNAMES[role as keyof typeof REDIS_USERNAMES]}: password in ${file} (${state})\n`,
    );
  }
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
}

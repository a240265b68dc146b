#!/usr/bin/env node
/**
 * npm run redis-acl -- <dir> [--prefix <REDIS_PREFIX>]: writes the Redis users of every
 * role into <dir>: a generated password per role (<role>.password, mode 0600, kept if
 * already there) and users.acl (deploy/redis/users.acl.template filled in: password
 * hashes only) for Redis's aclfile. docs/DEPLOY.md ("Redis users") says what each role
 * may do and where the files go.
 *
 * npm run redis-acl -- --template writes deploy/redis/users.acl.template from the rules
 * in packages/state (a test fails while the two differ).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { aclTemplate, REDIS_USERNAMES, type RedisRole } from '@securechat/state';
import { aclTemplatePath, ensureRedisAcl, readAclTemplate } from './redis-acl';

const USAGE = 'usage: npm run redis-acl -- <dir> [--prefix <REDIS_PREFIX>] | --template';
const REPO_ROOT = resolve(__dirname, '..', '..', '..');

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

function main(argv: string[]): void {
  if (argv.length === 1 && argv[0] === '--template') {
    const target = aclTemplatePath(REPO_ROOT);
    writeFileSync(target, aclTemplate());
    process.stdout.write(`wrote ${target}\n`);
    return;
  }
  const { dir, prefix } = parseArgs(argv);
  const files = ensureRedisAcl(resolve(dir), prefix, readAclTemplate(REPO_ROOT));
  process.stdout.write(`wrote ${files.aclFile} for prefix ${prefix}\n`);
  for (const [role, file] of Object.entries(files.passwordFiles) as [RedisRole, string][]) {
    const state = files.created.includes(role) ? 'new' : 'kept';
    process.stdout.write(`  ${REDIS_USERNAMES[role]}: password in ${file} (${state})\n`);
  }
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
}

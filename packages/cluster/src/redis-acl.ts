import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { passwordPlaceholder, REDIS_ROLES, REDIS_USERNAMES, type RedisRole } from '@securechat/state';
import { fillTemplate } from './nginx-config';

/** What `ensureRedisAcl` leaves in its directory. */
export interface RedisAclFiles {
  /** `users.acl`: Redis's `aclfile`, password hashes only (mode 0644). */
  aclFile: string;
  /** `<role>.password`: one role's password, for REDIS_PASSWORD_FILE (mode 0600). */
  passwordFiles: Readonly<Record<RedisRole, string>>;
  /** Passwords made by this call (the others were kept). */
  created: RedisRole[];
}

export const ACL_FILE = 'users.acl';
export const passwordFileName = (role: RedisRole): string => `${role}.password`;

/** The shipped ACL template (docs/DEPLOY.md, "Redis users"): the rules of every role. */
export function aclTemplatePath(repoRoot: string): string {
  return join(repoRoot, 'deploy', 'redis', 'users.acl.template');
}

export function readAclTemplate(repoRoot: string): string {
  return readFileSync(aclTemplatePath(repoRoot), 'utf8');
}

const PREFIX = /^[A-Za-z0-9_.:{}-]{1,64}$/;

/** The template with REDIS_PREFIX and each role's password hash (SHA-256, hex) filled in. */
export function renderAcl(
  template: string,
  prefix: string,
  passwordSha256: Readonly<Record<RedisRole, string>>,
): string {
  if (!PREFIX.test(prefix) || prefix.includes('{{')) {
    throw new Error(`REDIS_PREFIX must be 1-64 of [A-Za-z0-9_.:{}-]: ${prefix}`);
  }
  const values: Record<string, string> = { PREFIX: prefix };
  for (const role of REDIS_ROLES) {
    if (!/^[0-9a-f]{64}$/.test(passwordSha256[role])) throw new Error(`not a SHA-256 for ${role}`);
    values[passwordPlaceholder(role)] = passwordSha256[role];
  }
  return fillTemplate(template, values);
}

/** A generated password: 32 random bytes, base64url (safe in a URL's user info). */
function newPassword(): string {
  return randomBytes(32).toString('base64url');
}

export function readPassword(file: string): string {
  const password = readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
  if (!/^[A-Za-z0-9_-]{32,}$/.test(password)) throw new Error(`${file} does not hold a generated password`);
  return password;
}

/**
 * The Redis users of every role (docs/DEPLOY.md, "Redis users") in `dir`: a password per
 * role, generated once and kept (operators keep their URLs across restarts; no password
 * is ever in the source), and `users.acl`, the template filled in for REDIS_PREFIX
 * `prefix`, rewritten every time so that it always matches the prefix and the rules.
 */
export function ensureRedisAcl(dir: string, prefix: string, template: string): RedisAclFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const created: RedisRole[] = [];
  const files = {} as Record<RedisRole, string>;
  const hashes = {} as Record<RedisRole, string>;
  for (const role of REDIS_ROLES) {
    const file = join(dir, passwordFileName(role));
    if (!existsSync(file)) {
      writeFileSync(file, `${newPassword()}\n`, { mode: 0o600, flag: 'wx' });
      created.push(role);
    }
    files[role] = file;
    hashes[role] = createHash('sha256').update(readPassword(file)).digest('hex');
  }
  const acl = join(dir, ACL_FILE);
  // Hashes only: readable by a Redis that runs as another user (a container).
  writeFileSync(acl, renderAcl(template, prefix, hashes), { mode: 0o644 });
  chmodSync(acl, 0o644);
  return { aclFile: acl, passwordFiles: Object.freeze(files), created };
}

/** A redis:// URL with a role's credentials, for redis-cli -u and chatctl's REDIS_URL. */
export function redisUrlFor(role: RedisRole, password: string, host: string, port: number): string {
  return `redis://${REDIS_USERNAMES[role]}:${encodeURIComponent(password)}@${host}:${port}`;
}

/**
 * What a Sentinel deployment needs beyond the product's roles: a user the replicas
 * replicate as (`masteruser`) and one the sentinels monitor and reconfigure the data
 * nodes as (`sentinel auth-user`), with the rights Redis documents for each and no key.
 */
export const SERVICE_USERS = Object.freeze({
  replica: { name: 'securechat-replica', rules: 'resetkeys resetchannels -@all +psync +replconf +ping' },
  sentinel: {
    name: 'securechat-sentinel',
    rules:
      'resetkeys resetchannels -@all allchannels +hello +auth +select +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill',
  },
});

export type ServiceUser = keyof typeof SERVICE_USERS;

/**
 * Adds SERVICE_USERS to the ACL file `ensureRedisAcl` wrote (call it after each), with
 * passwords made once in `<dir>/<user>.password` and kept. Returns each user's name and password.
 */
export function appendServiceUsers(
  dir: string,
  files: RedisAclFiles,
): Record<ServiceUser, { username: string; password: string }> {
  const users = {} as Record<ServiceUser, { username: string; password: string }>;
  const lines: string[] = [];
  for (const user of Object.keys(SERVICE_USERS) as ServiceUser[]) {
    const file = join(dir, `${user}.password`);
    if (!existsSync(file)) writeFileSync(file, `${newPassword()}\n`, { mode: 0o600, flag: 'wx' });
    const password = readPassword(file);
    const { name, rules } = SERVICE_USERS[user];
    lines.push(`user ${name} on #${createHash('sha256').update(password).digest('hex')} ${rules}`);
    users[user] = { username: name, password };
  }
  writeFileSync(files.aclFile, `${readFileSync(files.aclFile, 'utf8')}${lines.join('\n')}\n`, {
    mode: 0o644,
  });
  return users;
}

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseTrustList, type TrustList } from './client-address';

/**
 * The process configuration, parsed once from the environment. Nothing else in the
 * codebase reads `process.env`; services receive this frozen object.
 */
export interface Config {
  readonly port: number;
  readonly host: string;
  /** Unset only in embedded mode (`npm start`); services started alone require it. */
  readonly redisUrl: string | undefined;
  readonly redisPrefix: string;
  /** Empty means "the server's own origin(s)", derived from host and port. */
  readonly allowedOrigins: readonly string[];
  readonly allowMissingOrigin: boolean;
  readonly jwtPrivateKeyFile: string | undefined;
  readonly jwtPublicKeysFile: string | undefined;
  readonly jwtIssuer: string;
  readonly jwtAudience: string;
  readonly accessTokenTtlS: number;
  readonly refreshTokenTtlS: number;
  readonly rateLimitMax: number;
  readonly rateLimitWindowMs: number;
  readonly blockAfterViolations: number;
  readonly blockDurationS: number;
  readonly maxMessageBytes: number;
  readonly maxConnectionsPerUser: number;
  readonly maxConnectionsPerAddress: number;
  readonly maxHandshakesPerAddressPerMin: number;
  readonly trustProxy: TrustList;
  readonly trustProxyRaw: string;
  readonly logLevel: LogLevel;
  readonly bcryptCost: number;
  readonly loginMaxConsecutiveFailures: number;
  readonly loginMaxFailuresPerAddressPerDay: number;
  readonly loginLimiterOnRedisError: 'fail-closed' | 'fail-open';
  readonly nodeId: string;
  readonly pingIntervalMs: number;
  readonly historyMaxLen: number;
  readonly maxBufferedBytes: number;
  readonly shutdownGraceMs: number;
  readonly redisCommandTimeoutMs: number;
  readonly presenceTtlS: number;
  readonly maxBodyBytes: number;
  readonly revalidateIntervalMs: number;
  readonly configureKeyspaceEvents: boolean;
  /** Registrations one address (IPv4 address, IPv6 /64) may make per hour and per day. */
  readonly registerMaxPerAddressPerHour: number;
  readonly registerMaxPerAddressPerDay: number;
  /** Failed logins to one account from unknown networks before growing delays apply. */
  readonly loginAccountFreeFailures: number;
  /** The longest delay between two login attempts to one account from unknown networks. */
  readonly loginAccountMaxDelayS: number;
  /** Whether a chat handshake may carry its token as `?token=` (the contract's third way). */
  readonly allowQueryToken: boolean;
  /** Time a client has to send a request's headers (slowloris bound), every node kind. */
  readonly httpHeadersTimeoutMs: number;
  /** Redis ACL user, and its password (from REDIS_PASSWORD or REDIS_PASSWORD_FILE). */
  readonly redisUsername: string | undefined;
  readonly redisPassword: string | undefined;
}

export type LogLevel = 'error' | 'warn' | 'info' | 'http' | 'verbose' | 'debug' | 'silly';
export type ServiceMode = 'embedded' | 'auth' | 'chat' | 'ops';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`invalid configuration: ${variable} ${detail}`);
    this.name = 'ConfigError';
  }
}

const int = (min: number, max: number, def: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((v) => v ?? def);

const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .optional()
    .transform((v) => (v === undefined ? def : v === 'true' || v === '1' || v === 'yes'));

const str = (def: string) =>
  z
    .string()
    .trim()
    .min(1)
    .optional()
    .transform((v) => v ?? def);

const optionalStr = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));

const redisUrl = optionalStr.refine(
  (v) => v === undefined || /^rediss?:\/\/[^\s]+$/.test(v),
  'must be a redis:// or rediss:// URL',
);

const prefix = str('chat:').refine(
  (v) => /^[A-Za-z0-9_.:{}-]{1,64}$/.test(v),
  'must be 1-64 of [A-Za-z0-9_.:{}-]',
);

const origins = optionalStr.transform((v, ctx) => {
  if (v === undefined) return [] as string[];
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const o of list) {
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      ctx.addIssue({ code: 'custom', message: `"${o}" is not an origin` });
      return z.NEVER;
    }
    if (!/^https?:$/.test(url.protocol) || url.origin !== o) {
      ctx.addIssue({
        code: 'custom',
        message: `"${o}" is not an exact origin (scheme://host[:port], no path or slash)`,
      });
      return z.NEVER;
    }
  }
  return list;
});

const schema = z.object({
  PORT: int(0, 65535, 8080),
  HOST: str('127.0.0.1'),
  REDIS_URL: redisUrl,
  REDIS_PREFIX: prefix,
  ALLOWED_ORIGINS: origins,
  ALLOW_MISSING_ORIGIN: bool(false),
  JWT_PRIVATE_KEY_FILE: optionalStr,
  JWT_PUBLIC_KEYS_FILE: optionalStr,
  JWT_ISSUER: str('securechat'),
  JWT_AUDIENCE: str('securechat'),
  ACCESS_TOKEN_TTL_S: int(5, 86400, 900),
  REFRESH_TOKEN_TTL_S: int(60, 90 * 86400, 604800),
  RATE_LIMIT_MAX: int(1, 1_000_000, 10),
  RATE_LIMIT_WINDOW_MS: int(100, 86_400_000, 60000),
  BLOCK_AFTER_VIOLATIONS: int(1, 1_000_000, 20),
  BLOCK_DURATION_S: int(1, 365 * 86400, 3600),
  MAX_MESSAGE_BYTES: int(256, 16 * 1024 * 1024, 65536),
  MAX_CONNECTIONS_PER_USER: int(1, 100_000, 20),
  MAX_CONNECTIONS_PER_ADDRESS: int(1, 1_000_000, 200),
  MAX_HANDSHAKES_PER_ADDRESS_PER_MIN: int(1, 1_000_000, 120),
  TRUST_PROXY: optionalStr,
  LOG_LEVEL: z
    .enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'])
    .optional()
    .transform((v): LogLevel => v ?? 'info'),
  BCRYPT_COST: int(10, 15, 10),
  LOGIN_MAX_CONSECUTIVE_FAILURES: int(1, 1000, 10),
  LOGIN_MAX_FAILURES_PER_ADDRESS_PER_DAY: int(1, 1_000_000, 100),
  LOGIN_LIMITER_ON_REDIS_ERROR: z
    .enum(['fail-closed', 'fail-open'])
    .optional()
    .transform((v) => v ?? 'fail-closed'),
  // Random: the node's name reaches clients (`welcome`), so it never carries the host name
  // or the pid unless an operator chooses such a NODE_ID.
  NODE_ID: str(`node-${randomBytes(6).toString('hex')}`).refine(
    (v) => /^[A-Za-z0-9_.-]{1,64}$/.test(v),
    'must be 1-64 of [A-Za-z0-9_.-]',
  ),
  PING_INTERVAL_MS: int(100, 600_000, 25000),
  HISTORY_MAX_LEN: int(10, 10_000_000, 1000),
  MAX_BUFFERED_BYTES: int(1024, 1024 * 1024 * 1024, 1024 * 1024),
  SHUTDOWN_GRACE_MS: int(0, 600_000, 10000),
  REDIS_COMMAND_TIMEOUT_MS: int(50, 60_000, 1000),
  PRESENCE_TTL_S: int(2, 3600, 60),
  MAX_BODY_BYTES: int(256, 1024 * 1024, 8192),
  REVALIDATE_INTERVAL_MS: int(100, 3_600_000, 60000),
  CONFIGURE_KEYSPACE_EVENTS: bool(true),
  REGISTER_MAX_PER_ADDRESS_PER_HOUR: int(1, 1_000_000, 20),
  REGISTER_MAX_PER_ADDRESS_PER_DAY: int(1, 10_000_000, 100),
  LOGIN_ACCOUNT_FREE_FAILURES: int(1, 1_000_000, 10),
  LOGIN_ACCOUNT_MAX_DELAY_S: int(1, 86_400, 300),
  ALLOW_QUERY_TOKEN: bool(true),
  HTTP_HEADERS_TIMEOUT_MS: int(500, 600_000, 10_000),
  REDIS_USERNAME: optionalStr.refine(
    (v) => v === undefined || /^[A-Za-z0-9_.:@-]{1,128}$/.test(v),
    'must be 1-128 of [A-Za-z0-9_.:@-]',
  ),
  // Not trimmed: a password is what it is.
  REDIS_PASSWORD: z
    .string()
    .optional()
    .transform((v) => (v === '' ? undefined : v)),
  REDIS_PASSWORD_FILE: optionalStr,
});

type Env = Record<string, string | undefined>;

/**
 * Parses and validates the environment. Throws a ConfigError naming the first bad
 * variable; `main` turns that into a message and a non-zero exit.
 */
export function loadConfig(env: Env, mode: ServiceMode): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(variable, issue?.message ?? 'is invalid');
  }
  const v = result.data;
  if (mode !== 'embedded' && v.REDIS_URL === undefined) {
    throw new ConfigError(
      'REDIS_URL',
      mode === 'ops' ? 'is required' : `is required for a ${mode} node started alone`,
    );
  }
  if (mode === 'auth' && v.REDIS_URL !== undefined && v.JWT_PRIVATE_KEY_FILE === undefined) {
    throw new ConfigError('JWT_PRIVATE_KEY_FILE', 'is required for an auth node (npm run keys)');
  }
  if (mode === 'chat' && v.JWT_PUBLIC_KEYS_FILE === undefined) {
    throw new ConfigError('JWT_PUBLIC_KEYS_FILE', 'is required for a chat node (npm run keys)');
  }
  const credentials = redisCredentials(v);
  let trustProxy: TrustList;
  try {
    trustProxy = parseTrustList(v.TRUST_PROXY ?? '');
  } catch (err) {
    throw new ConfigError('TRUST_PROXY', err instanceof Error ? err.message : 'is invalid');
  }
  return Object.freeze({
    port: v.PORT,
    host: v.HOST,
    redisUrl: v.REDIS_URL,
    redisPrefix: v.REDIS_PREFIX,
    allowedOrigins: Object.freeze(v.ALLOWED_ORIGINS),
    allowMissingOrigin: v.ALLOW_MISSING_ORIGIN,
    jwtPrivateKeyFile: v.JWT_PRIVATE_KEY_FILE,
    jwtPublicKeysFile: v.JWT_PUBLIC_KEYS_FILE,
    jwtIssuer: v.JWT_ISSUER,
    jwtAudience: v.JWT_AUDIENCE,
    accessTokenTtlS: v.ACCESS_TOKEN_TTL_S,
    refreshTokenTtlS: v.REFRESH_TOKEN_TTL_S,
    rateLimitMax: v.RATE_LIMIT_MAX,
    rateLimitWindowMs: v.RATE_LIMIT_WINDOW_MS,
    blockAfterViolations: v.BLOCK_AFTER_VIOLATIONS,
    blockDurationS: v.BLOCK_DURATION_S,
    maxMessageBytes: v.MAX_MESSAGE_BYTES,
    maxConnectionsPerUser: v.MAX_CONNECTIONS_PER_USER,
    maxConnectionsPerAddress: v.MAX_CONNECTIONS_PER_ADDRESS,
    maxHandshakesPerAddressPerMin: v.MAX_HANDSHAKES_PER_ADDRESS_PER_MIN,
    trustProxy,
    trustProxyRaw: v.TRUST_PROXY ?? '',
    logLevel: v.LOG_LEVEL,
    bcryptCost: v.BCRYPT_COST,
    loginMaxConsecutiveFailures: v.LOGIN_MAX_CONSECUTIVE_FAILURES,
    loginMaxFailuresPerAddressPerDay: v.LOGIN_MAX_FAILURES_PER_ADDRESS_PER_DAY,
    loginLimiterOnRedisError: v.LOGIN_LIMITER_ON_REDIS_ERROR,
    nodeId: v.NODE_ID,
    pingIntervalMs: v.PING_INTERVAL_MS,
    historyMaxLen: v.HISTORY_MAX_LEN,
    maxBufferedBytes: v.MAX_BUFFERED_BYTES,
    shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    redisCommandTimeoutMs: v.REDIS_COMMAND_TIMEOUT_MS,
    presenceTtlS: v.PRESENCE_TTL_S,
    maxBodyBytes: v.MAX_BODY_BYTES,
    revalidateIntervalMs: v.REVALIDATE_INTERVAL_MS,
    configureKeyspaceEvents: v.CONFIGURE_KEYSPACE_EVENTS,
    registerMaxPerAddressPerHour: v.REGISTER_MAX_PER_ADDRESS_PER_HOUR,
    registerMaxPerAddressPerDay: v.REGISTER_MAX_PER_ADDRESS_PER_DAY,
    loginAccountFreeFailures: v.LOGIN_ACCOUNT_FREE_FAILURES,
    loginAccountMaxDelayS: v.LOGIN_ACCOUNT_MAX_DELAY_S,
    allowQueryToken: v.ALLOW_QUERY_TOKEN,
    httpHeadersTimeoutMs: v.HTTP_HEADERS_TIMEOUT_MS,
    redisUsername: credentials.username,
    redisPassword: credentials.password,
  });
}

interface RedisCredentialVariables {
  REDIS_URL: string | undefined;
  REDIS_USERNAME: string | undefined;
  REDIS_PASSWORD: string | undefined;
  REDIS_PASSWORD_FILE: string | undefined;
}

/**
 * The Redis ACL credentials: REDIS_USERNAME, and REDIS_PASSWORD or the first line of
 * REDIS_PASSWORD_FILE (a mounted secret). Credentials may also be in REDIS_URL; each is
 * given in one place only, so that no two sources can silently disagree.
 */
function redisCredentials(v: RedisCredentialVariables): { username?: string; password?: string } {
  let url: URL | undefined;
  try {
    url = v.REDIS_URL === undefined ? undefined : new URL(v.REDIS_URL);
  } catch {
    throw new ConfigError('REDIS_URL', 'must be a redis:// or rediss:// URL');
  }
  if (v.REDIS_PASSWORD !== undefined && v.REDIS_PASSWORD_FILE !== undefined) {
    throw new ConfigError('REDIS_PASSWORD_FILE', 'cannot be set together with REDIS_PASSWORD');
  }
  if (url?.password && (v.REDIS_PASSWORD !== undefined || v.REDIS_PASSWORD_FILE !== undefined)) {
    const variable = v.REDIS_PASSWORD !== undefined ? 'REDIS_PASSWORD' : 'REDIS_PASSWORD_FILE';
    throw new ConfigError(variable, 'cannot be set when REDIS_URL carries a password');
  }
  if (url?.username && v.REDIS_USERNAME !== undefined) {
    throw new ConfigError('REDIS_USERNAME', 'cannot be set when REDIS_URL carries a user name');
  }
  let password = v.REDIS_PASSWORD;
  if (v.REDIS_PASSWORD_FILE !== undefined) {
    try {
      password = readFileSync(v.REDIS_PASSWORD_FILE, 'utf8').split(/\r?\n/)[0];
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ConfigError('REDIS_PASSWORD_FILE', `cannot be read (${code})`);
    }
    if (password === undefined || password === '') {
      throw new ConfigError('REDIS_PASSWORD_FILE', 'holds an empty password');
    }
  }
  if (v.REDIS_USERNAME !== undefined && password === undefined && !url?.password) {
    throw new ConfigError('REDIS_USERNAME', 'needs REDIS_PASSWORD or REDIS_PASSWORD_FILE');
  }
  return {
    ...(v.REDIS_USERNAME !== undefined ? { username: v.REDIS_USERNAME } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}

/** The origins a browser would send for pages served by this process itself. */
export function ownOrigins(config: Pick<Config, 'host' | 'port'>, port = config.port): string[] {
  const hosts = new Set<string>([config.host, 'localhost', '127.0.0.1']);
  if (config.host === '0.0.0.0' || config.host === '::') hosts.delete(config.host);
  return [...hosts].map((h) => `http://${h.includes(':') ? `[${h}]` : h}:${port}`);
}

/** Every variable loadConfig reads (README's configuration table names each one). */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(schema.shape));

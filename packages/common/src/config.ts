import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
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
  NODE_ID: str(`${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`).refine(
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
  });
}

/** The origins a browser would send for pages served by this process itself. */
export function ownOrigins(config: Pick<Config, 'host' | 'port'>, port = config.port): string[] {
  const hosts = new Set<string>([config.host, 'localhost', '127.0.0.1']);
  if (config.host === '0.0.0.0' || config.host === '::') hosts.delete(config.host);
  return [...hosts].map((h) => `http://${h.includes(':') ? `[${h}]` : h}:${port}`);
}

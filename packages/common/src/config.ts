import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseTrustList } from './client-address';

/*
 * The process configuration, parsed once from the environment. Nothing else in the
 * codebase reads `process.env`; a process's `main` calls loadConfig(process.env, mode)
 * and hands the frozen result on.
 *
 * Each variable is declared once, in the group of settings it belongs to, with its
 * parser and default. A mode's type is the groups that mode uses, plus the variables
 * it requires: `loadConfig(env, 'chat')` gives a ChatConfig whose `redisUrl` is a
 * string, and no field an auth node alone needs. Every variable is still validated in
 * every mode, so a bad value stops any process it reaches.
 */

export type LogLevel = 'error' | 'warn' | 'info' | 'http' | 'verbose' | 'debug' | 'silly';

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

const redisUrlSchema = optionalStr.refine(
  (v) => v === undefined || /^rediss?:\/\/[^\s]+$/.test(v),
  'must be a redis:// or rediss:// URL',
);

/** Where Redis is: one server, a Sentinel group's master, or a Redis Cluster (see `redisTarget`). */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * The Redis a process uses, in one of three modes, chosen by exactly one of REDIS_URL,
 * REDIS_SENTINELS (with REDIS_SENTINEL_NAME) and REDIS_CLUSTER_NODES. `tls`: a rediss://
 * URL in single mode, REDIS_TLS=true in the others (every connection, sentinels included).
 * `ca`: with TLS, the PEM of the CAs the servers' certificates are checked against
 * (REDIS_TLS_CA_FILE), instead of Node's own store (and NODE_EXTRA_CA_CERTS).
 */
export type RedisTarget = (
  | { readonly mode: 'single'; readonly url: string; readonly tls: boolean }
  | {
      readonly mode: 'sentinel';
      readonly sentinels: readonly RedisAddress[];
      readonly name: string;
      readonly tls: boolean;
    }
  | { readonly mode: 'cluster'; readonly nodes: readonly RedisAddress[]; readonly tls: boolean }
) & { readonly ca?: string };

export type RedisMode = RedisTarget['mode'];

/** `host:port,host:port` (an IPv6 host in brackets: `[::1]:26379`). */
const addressList = optionalStr.transform((v, ctx): readonly RedisAddress[] | undefined => {
  if (v === undefined) return undefined;
  const list: RedisAddress[] = [];
  for (const item of v.split(',').map((s) => s.trim())) {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/.exec(item);
    const port = m === null ? NaN : Number(m[3]);
    if (m === null || !(port >= 1 && port <= 65535)) {
      ctx.addIssue({ code: 'custom', message: `"${item}" is not host:port (comma-separated list)` });
      return z.NEVER;
    }
    list.push(Object.freeze({ host: m[1] ?? m[2] ?? '', port }));
  }
  return Object.freeze(list);
});

/** Unset, true or false: REDIS_TLS may only confirm what a REDIS_URL's scheme says. */
const optionalBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .optional()
  .transform((v) => (v === undefined ? undefined : v === 'true' || v === '1' || v === 'yes'));

const prefix = str('chat:').refine(
  (v) => /^[A-Za-z0-9_.:{}-]{1,64}$/.test(v),
  'must be 1-64 of [A-Za-z0-9_.:{}-]',
);

const origins = optionalStr.transform((v, ctx) => {
  if (v === undefined) return Object.freeze([] as string[]);
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
  return Object.freeze(list);
});

const trustList = optionalStr.transform((v, ctx) => {
  try {
    return parseTrustList(v ?? '');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'is invalid' });
    return z.NEVER;
  }
});

const logLevel = z
  .enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'])
  .optional()
  .transform((v): LogLevel => v ?? 'info');

/** The default metrics port: the one OpenTelemetry's Prometheus exporter uses. */
export const DEFAULT_METRICS_PORT = 9464;

/** A port (0 = any free port) or `off`: undefined means no metrics listener. */
const metricsPort = optionalStr.transform((v, ctx): number | undefined => {
  if (v === undefined) return DEFAULT_METRICS_PORT;
  if (v.toLowerCase() === 'off') return undefined;
  const port = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    ctx.addIssue({ code: 'custom', message: 'must be a port (0-65535, 0 = any free port) or off' });
    return z.NEVER;
  }
  return port;
});

// Random: the node's name reaches clients (`welcome`), so it never carries the host name
// or the pid unless an operator chooses such a NODE_ID.
const nodeId = str(`node-${randomBytes(6).toString('hex')}`).refine(
  (v) => /^[A-Za-z0-9_.-]{1,64}$/.test(v),
  'must be 1-64 of [A-Za-z0-9_.-]',
);

/** One environment variable: its name and its parser, which also gives its default. */
interface Variable<T> {
  readonly env: string;
  readonly schema: z.ZodType<T>;
}

function variable<T>(env: string, schema: z.ZodType<T>): Variable<T> {
  return { env, schema };
}

type Group = Readonly<Record<string, Variable<unknown>>>;

/** The settings a group of variables parses to. */
type Settings<G extends Group> = { readonly [K in keyof G]: G[K] extends Variable<infer T> ? T : never };

/** Every process that serves: where it listens, who it is, how it logs and stops. */
const SERVER = {
  port: variable('PORT', int(0, 65535, 8080)),
  host: variable('HOST', str('127.0.0.1')),
  nodeId: variable('NODE_ID', nodeId),
  logLevel: variable('LOG_LEVEL', logLevel),
  shutdownGraceMs: variable('SHUTDOWN_GRACE_MS', int(0, 600_000, 10000)),
  /** Proxies whose X-Forwarded-For is believed. */
  trustProxy: variable('TRUST_PROXY', trustList),
  /** Time a client has to send a request's headers (slowloris bound), every node kind. */
  httpHeadersTimeoutMs: variable('HTTP_HEADERS_TIMEOUT_MS', int(500, 600_000, 10_000)),
  /**
   * The pages that may use this process: WebSocket handshakes (chat), CORS and the
   * session cookie (auth). Empty means "the server's own origin(s)", from host and port.
   */
  allowedOrigins: variable('ALLOWED_ORIGINS', origins),
  /** The Prometheus listener, apart from the public port; loopback unless a deployment opens it. */
  metricsHost: variable('METRICS_HOST', str('127.0.0.1')),
  metricsPort: variable('METRICS_PORT', metricsPort),
};

const aclUser = optionalStr.refine(
  (v) => v === undefined || /^[A-Za-z0-9_.:@-]{1,128}$/.test(v),
  'must be 1-128 of [A-Za-z0-9_.:@-]',
);

// Not trimmed: a password is what it is.
const password = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

/** How a process uses Redis (whether it must is the mode's: see `redisTarget` below). */
const REDIS = {
  redisPrefix: variable('REDIS_PREFIX', prefix),
  redisCommandTimeoutMs: variable('REDIS_COMMAND_TIMEOUT_MS', int(50, 60_000, 1000)),
  /** Redis ACL user, and its password (REDIS_PASSWORD or REDIS_PASSWORD_FILE): see `redisCredentials`. */
  redisUsername: variable('REDIS_USERNAME', aclUser),
  redisPassword: variable('REDIS_PASSWORD', password),
  /** Sentinel mode: the sentinels' own credentials, if they require any (often other than the master's). */
  redisSentinelUsername: variable('REDIS_SENTINEL_USERNAME', aclUser),
  redisSentinelPassword: variable('REDIS_SENTINEL_PASSWORD', password),
};

/** Access tokens, as auth nodes issue them and chat nodes verify them. */
const TOKENS = {
  jwtIssuer: variable('JWT_ISSUER', str('securechat')),
  jwtAudience: variable('JWT_AUDIENCE', str('securechat')),
  accessTokenTtlS: variable('ACCESS_TOKEN_TTL_S', int(5, 86400, 900)),
};

/** What only an auth node uses. */
const AUTH = {
  refreshTokenTtlS: variable('REFRESH_TOKEN_TTL_S', int(60, 90 * 86400, 604800)),
  bcryptCost: variable('BCRYPT_COST', int(10, 15, 10)),
  loginMaxConsecutiveFailures: variable('LOGIN_MAX_CONSECUTIVE_FAILURES', int(1, 1000, 10)),
  loginMaxFailuresPerAddressPerDay: variable(
    'LOGIN_MAX_FAILURES_PER_ADDRESS_PER_DAY',
    int(1, 1_000_000, 100),
  ),
  loginLimiterOnRedisError: variable(
    'LOGIN_LIMITER_ON_REDIS_ERROR',
    z
      .enum(['fail-closed', 'fail-open'])
      .optional()
      .transform((v) => v ?? 'fail-closed'),
  ),
  maxBodyBytes: variable('MAX_BODY_BYTES', int(256, 1024 * 1024, 8192)),
  /** Registrations one address (IPv4 address, IPv6 /64) may make per hour and per day. */
  registerMaxPerAddressPerHour: variable('REGISTER_MAX_PER_ADDRESS_PER_HOUR', int(1, 1_000_000, 20)),
  registerMaxPerAddressPerDay: variable('REGISTER_MAX_PER_ADDRESS_PER_DAY', int(1, 10_000_000, 100)),
  /** Failed logins to one account from unknown networks before growing delays apply. */
  loginAccountFreeFailures: variable('LOGIN_ACCOUNT_FREE_FAILURES', int(1, 1_000_000, 10)),
  /** The longest delay between two login attempts to one account from unknown networks. */
  loginAccountMaxDelayS: variable('LOGIN_ACCOUNT_MAX_DELAY_S', int(1, 86_400, 300)),
};

/** The per-user message limit: a sliding window over all chat nodes, and blocks. */
const RATE_LIMIT = {
  rateLimitMax: variable('RATE_LIMIT_MAX', int(1, 1_000_000, 10)),
  rateLimitWindowMs: variable('RATE_LIMIT_WINDOW_MS', int(100, 86_400_000, 60000)),
  blockAfterViolations: variable('BLOCK_AFTER_VIOLATIONS', int(1, 1_000_000, 20)),
  blockDurationS: variable('BLOCK_DURATION_S', int(1, 365 * 86400, 3600)),
};

/** What only a chat node uses, beside the rate limit. */
const CHAT = {
  allowMissingOrigin: variable('ALLOW_MISSING_ORIGIN', bool(false)),
  maxMessageBytes: variable('MAX_MESSAGE_BYTES', int(256, 16 * 1024 * 1024, 65536)),
  maxConnectionsPerUser: variable('MAX_CONNECTIONS_PER_USER', int(1, 100_000, 20)),
  maxConnectionsPerAddress: variable('MAX_CONNECTIONS_PER_ADDRESS', int(1, 1_000_000, 200)),
  maxHandshakesPerAddressPerMin: variable('MAX_HANDSHAKES_PER_ADDRESS_PER_MIN', int(1, 1_000_000, 120)),
  pingIntervalMs: variable('PING_INTERVAL_MS', int(100, 600_000, 25000)),
  historyMaxLen: variable('HISTORY_MAX_LEN', int(10, 10_000_000, 1000)),
  /** Messages older than this are trimmed from a room's history; 0: no age bound. */
  historyMaxAgeS: variable('HISTORY_MAX_AGE_S', int(0, 10 * 365 * 86400, 30 * 86400)),
  /** The most bytes one history reply or one page of a replay carries (at least one message). */
  pageMaxBytes: variable('PAGE_MAX_BYTES', int(4096, 64 * 1024 * 1024, 256 * 1024)),
  /** The most bytes one join replays before it answers `replay_more` and waits to be continued. */
  replayMaxBytes: variable('REPLAY_MAX_BYTES', int(4096, 1024 * 1024 * 1024, 4 * 1024 * 1024)),
  /** Bytes per second a connection's requests may cost (its burst: 4 seconds' worth). */
  connectionBytesPerS: variable('CONNECTION_BYTES_PER_S', int(1024, 1024 * 1024 * 1024, 1024 * 1024)),
  /** Bytes per second all of one user's connections on a node may cost together (burst: 4 s). */
  userBytesPerS: variable('USER_BYTES_PER_S', int(1024, 1024 * 1024 * 1024, 2 * 1024 * 1024)),
  maxBufferedBytes: variable('MAX_BUFFERED_BYTES', int(1024, 1024 * 1024 * 1024, 1024 * 1024)),
  presenceTtlS: variable('PRESENCE_TTL_S', int(2, 3600, 60)),
  revalidateIntervalMs: variable('REVALIDATE_INTERVAL_MS', int(100, 3_600_000, 60000)),
  configureKeyspaceEvents: variable('CONFIGURE_KEYSPACE_EVENTS', bool(true)),
  /**
   * A `send`/`dm` is acknowledged only once this many replicas hold it (Redis WAIT after
   * the publish); 0: at once, the master alone (asynchronous replication).
   */
  redisWaitReplicas: variable('REDIS_WAIT_REPLICAS', int(0, 100, 0)),
  /** How long that WAIT may take; below REDIS_COMMAND_TIMEOUT_MS. */
  redisWaitTimeoutMs: variable('REDIS_WAIT_TIMEOUT_MS', int(1, 60_000, 500)),
  /** Whether a handshake may carry its token as `?token=` (the contract's third way). */
  allowQueryToken: variable('ALLOW_QUERY_TOKEN', bool(true)),
  // Admission shedding (issue 15): a reconnect storm is refused early instead of queued.
  /** The longest a handshake should wait to be decided; beyond, 503 `overloaded`. 0: never shed. */
  handshakeMaxWaitMs: variable('HANDSHAKE_MAX_WAIT_MS', int(0, 600_000, 4000)),
  /** Handshakes a node always decides at once, whatever its measured pace. */
  handshakeMinPending: variable('HANDSHAKE_MIN_PENDING', int(1, 1_000_000, 500)),
  /** Past this event-loop delay a node sheds new handshakes too (it is behind on everything). */
  handshakeMaxLagMs: variable('HANDSHAKE_MAX_LAG_MS', int(10, 600_000, 500)),
  /** The retry hint of a shed handshake (`retry_after_ms`; `Retry-After` in whole seconds, rounded up). */
  handshakeRetryAfterMs: variable('HANDSHAKE_RETRY_AFTER_MS', int(100, 600_000, 1000)),
};

/** Variables that one mode requires and another may leave unset: see the mode types. */
const BY_MODE = {
  redisUrl: variable('REDIS_URL', redisUrlSchema),
  redisSentinels: variable('REDIS_SENTINELS', addressList),
  redisSentinelName: variable(
    'REDIS_SENTINEL_NAME',
    optionalStr.refine(
      (v) => v === undefined || /^[A-Za-z0-9_.-]{1,64}$/.test(v),
      'must be 1-64 of [A-Za-z0-9_.-]',
    ),
  ),
  redisClusterNodes: variable('REDIS_CLUSTER_NODES', addressList),
  redisTls: variable('REDIS_TLS', optionalBool),
  /** Read into `redisTarget.ca`, never kept as a path: see `redisTlsCa`. */
  redisTlsCaFile: variable('REDIS_TLS_CA_FILE', optionalStr),
  jwtPrivateKeyFile: variable('JWT_PRIVATE_KEY_FILE', optionalStr),
  jwtPublicKeysFile: variable('JWT_PUBLIC_KEYS_FILE', optionalStr),
  /** Read into `redisPassword`, never kept: see `redisCredentials`. */
  redisPasswordFile: variable('REDIS_PASSWORD_FILE', optionalStr),
};

export type ServerSettings = Settings<typeof SERVER>;
export type RedisSettings = Settings<typeof REDIS>;
export type TokenSettings = Settings<typeof TOKENS>;
export type AuthSettings = Settings<typeof AUTH>;
export type RateLimitSettings = Settings<typeof RATE_LIMIT>;
export type ChatSettings = Settings<typeof CHAT>;

/** What createAuthNode is built from, in `start:auth` and in embedded mode alike. */
export type AuthNodeConfig = ServerSettings & TokenSettings & AuthSettings;

/** What createChatNode is built from, in `start:chat` and in embedded mode alike. */
export type ChatNodeConfig = ServerSettings & TokenSettings & ChatSettings & RateLimitSettings;

/** `npm run start:auth`: one auth node on Redis, signing with its private key. */
export type AuthConfig = AuthNodeConfig &
  RedisSettings & {
    readonly redisTarget: RedisTarget;
    readonly jwtPrivateKeyFile: string;
    /** Other public keys still trusted during a key rotation, if any. */
    readonly jwtPublicKeysFile: string | undefined;
  };

/** `npm run start:chat`: one chat node on Redis, verifying with the public keys. */
export type ChatConfig = ChatNodeConfig &
  RedisSettings & {
    readonly redisTarget: RedisTarget;
    readonly jwtPublicKeysFile: string;
  };

/** `npm start`: auth and chat in one process, on memory state unless a Redis is configured. */
export type EmbeddedConfig = AuthNodeConfig &
  ChatNodeConfig &
  RedisSettings & {
    readonly redisTarget: RedisTarget | undefined;
    /** Unset: a key generated at start. */
    readonly jwtPrivateKeyFile: string | undefined;
  };

/** `npm run chatctl`: only what the operator's commands need. */
export type OpsConfig = RedisSettings &
  Pick<TokenSettings, 'accessTokenTtlS'> &
  Pick<RateLimitSettings, 'rateLimitWindowMs'> & {
    readonly redisTarget: RedisTarget;
  };

export interface ConfigByMode {
  embedded: EmbeddedConfig;
  auth: AuthConfig;
  chat: ChatConfig;
  ops: OpsConfig;
}

export type ServiceMode = keyof ConfigByMode;

/** Every variable, in the order they are checked. */
const ALL = { ...SERVER, ...BY_MODE, ...REDIS, ...TOKENS, ...AUTH, ...RATE_LIMIT, ...CHAT };

type Env = Record<string, string | undefined>;
type Parsed = Settings<typeof ALL> & { readonly redisTarget: RedisTarget | undefined };

function parseAll(env: Env): Parsed {
  const values: Record<string, unknown> = {};
  for (const [field, { env: name, schema }] of Object.entries(ALL)) {
    const result = (schema as z.ZodType<unknown>).safeParse(env[name]);
    if (!result.success) throw new ConfigError(name, result.error.issues[0]?.message ?? 'is invalid');
    values[field] = result.data;
  }
  const parsed = values as Settings<typeof ALL>;
  if (parsed.redisWaitReplicas > 0 && parsed.redisWaitTimeoutMs >= parsed.redisCommandTimeoutMs) {
    throw new ConfigError(
      'REDIS_WAIT_TIMEOUT_MS',
      `must be below REDIS_COMMAND_TIMEOUT_MS (${parsed.redisCommandTimeoutMs}), which bounds the WAIT too`,
    );
  }
  return {
    ...parsed,
    ...redisCredentials(parsed),
    redisPasswordFile: undefined,
    redisTlsCaFile: undefined,
    redisTarget: withTlsCa(redisTarget(parsed), parsed.redisTlsCaFile),
  };
}

/**
 * REDIS_TLS_CA_FILE: the CA certificates (PEM) that a TLS connection to Redis checks the
 * servers against, read at start. Only with TLS on; a file without a certificate stops
 * the process here rather than at the first connection.
 */
function withTlsCa(target: RedisTarget | undefined, file: string | undefined): RedisTarget | undefined {
  if (file === undefined) return target;
  if (target === undefined || !target.tls) {
    throw new ConfigError('REDIS_TLS_CA_FILE', 'needs TLS to Redis (a rediss:// URL, or REDIS_TLS=true)');
  }
  let ca: string;
  try {
    ca = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError('REDIS_TLS_CA_FILE', `cannot be read (${code})`);
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError('REDIS_TLS_CA_FILE', 'holds no PEM certificate');
  }
  return Object.freeze({ ...target, ca });
}

const TARGET_REQUIRED = 'is required (or REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES)';

/**
 * The Redis mode: exactly one of REDIS_URL, REDIS_SENTINELS (+ REDIS_SENTINEL_NAME) and
 * REDIS_CLUSTER_NODES, or none (embedded mode on memory state). Credentials and TLS are
 * the same variables in every mode; only a URL can carry its own.
 */
function redisTarget(
  v: Pick<
    Settings<typeof ALL>,
    | 'redisUrl'
    | 'redisSentinels'
    | 'redisSentinelName'
    | 'redisClusterNodes'
    | 'redisTls'
    | 'redisSentinelUsername'
    | 'redisSentinelPassword'
  >,
): RedisTarget | undefined {
  const given = (
    [
      ['REDIS_URL', v.redisUrl],
      ['REDIS_SENTINELS', v.redisSentinels],
      ['REDIS_CLUSTER_NODES', v.redisClusterNodes],
    ] as const
  ).filter(([, value]) => value !== undefined);
  if (given.length > 1) {
    const names = given.map(([name]) => name);
    throw new ConfigError(
      names[1] ?? '',
      `cannot be set together with ${names[0] ?? ''} (one Redis mode only)`,
    );
  }
  if (v.redisSentinelName !== undefined && v.redisSentinels === undefined) {
    throw new ConfigError('REDIS_SENTINEL_NAME', 'needs REDIS_SENTINELS (the sentinels to ask for it)');
  }
  if (v.redisSentinels === undefined) {
    for (const [name, value] of [
      ['REDIS_SENTINEL_USERNAME', v.redisSentinelUsername],
      ['REDIS_SENTINEL_PASSWORD', v.redisSentinelPassword],
    ] as const) {
      if (value !== undefined) throw new ConfigError(name, 'is only for Sentinel mode (REDIS_SENTINELS)');
    }
  }
  if (v.redisSentinelUsername !== undefined && v.redisSentinelPassword === undefined) {
    throw new ConfigError('REDIS_SENTINEL_USERNAME', 'needs REDIS_SENTINEL_PASSWORD');
  }
  if (v.redisUrl !== undefined) {
    const tls = v.redisUrl.startsWith('rediss://');
    if (v.redisTls !== undefined && v.redisTls !== tls) {
      throw new ConfigError('REDIS_TLS', `contradicts REDIS_URL: TLS is chosen by its scheme (rediss://)`);
    }
    return Object.freeze({ mode: 'single', url: v.redisUrl, tls });
  }
  const tls = v.redisTls ?? false;
  if (v.redisSentinels !== undefined) {
    if (v.redisSentinelName === undefined) {
      throw new ConfigError(
        'REDIS_SENTINEL_NAME',
        'is required with REDIS_SENTINELS (the master group name)',
      );
    }
    return Object.freeze({ mode: 'sentinel', sentinels: v.redisSentinels, name: v.redisSentinelName, tls });
  }
  if (v.redisClusterNodes !== undefined)
    return Object.freeze({ mode: 'cluster', nodes: v.redisClusterNodes, tls });
  if (v.redisTls !== undefined) throw new ConfigError('REDIS_TLS', 'needs a Redis to connect to');
  return undefined;
}

/**
 * The Redis ACL credentials: REDIS_USERNAME, and REDIS_PASSWORD or the first line of
 * REDIS_PASSWORD_FILE (a mounted secret). Credentials may also be in REDIS_URL; each is
 * given in one place only, so that no two sources can silently disagree.
 */
function redisCredentials(
  v: Pick<Settings<typeof ALL>, 'redisUrl' | 'redisUsername' | 'redisPassword' | 'redisPasswordFile'>,
): Pick<Settings<typeof ALL>, 'redisUsername' | 'redisPassword'> {
  let url: URL | undefined;
  try {
    url = v.redisUrl === undefined ? undefined : new URL(v.redisUrl);
  } catch {
    throw new ConfigError('REDIS_URL', 'must be a redis:// or rediss:// URL');
  }
  if (v.redisPassword !== undefined && v.redisPasswordFile !== undefined) {
    throw new ConfigError('REDIS_PASSWORD_FILE', 'cannot be set together with REDIS_PASSWORD');
  }
  if (url?.password && (v.redisPassword !== undefined || v.redisPasswordFile !== undefined)) {
    const variable = v.redisPassword !== undefined ? 'REDIS_PASSWORD' : 'REDIS_PASSWORD_FILE';
    throw new ConfigError(variable, 'cannot be set when REDIS_URL carries a password');
  }
  if (url?.username && v.redisUsername !== undefined) {
    throw new ConfigError('REDIS_USERNAME', 'cannot be set when REDIS_URL carries a user name');
  }
  let password = v.redisPassword;
  if (v.redisPasswordFile !== undefined) {
    try {
      password = readFileSync(v.redisPasswordFile, 'utf8').split(/\r?\n/)[0];
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ConfigError('REDIS_PASSWORD_FILE', `cannot be read (${code})`);
    }
    if (password === undefined || password === '') {
      throw new ConfigError('REDIS_PASSWORD_FILE', 'holds an empty password');
    }
  }
  if (v.redisUsername !== undefined && password === undefined && !url?.password) {
    throw new ConfigError('REDIS_USERNAME', 'needs REDIS_PASSWORD or REDIS_PASSWORD_FILE');
  }
  return { redisUsername: v.redisUsername, redisPassword: password };
}

/** The settings of one group, taken from everything parsed. */
function pick<G extends Group>(parsed: Parsed, group: G): Settings<G> {
  const values = parsed as unknown as Record<string, unknown>;
  return Object.fromEntries(Object.keys(group).map((field) => [field, values[field]])) as Settings<G>;
}

function required<T>(value: T | undefined, variable: string, detail: string): T {
  if (value === undefined) throw new ConfigError(variable, detail);
  return value;
}

/** Each mode's configuration from everything parsed; a missing required variable throws. */
const MODES: { readonly [M in ServiceMode]: (v: Parsed) => ConfigByMode[M] } = {
  embedded: (v) => ({
    ...pick(v, SERVER),
    ...pick(v, REDIS),
    ...pick(v, TOKENS),
    ...pick(v, AUTH),
    ...pick(v, RATE_LIMIT),
    ...pick(v, CHAT),
    redisTarget: v.redisTarget,
    jwtPrivateKeyFile: v.jwtPrivateKeyFile,
  }),
  auth: (v) => ({
    redisTarget: required(v.redisTarget, 'REDIS_URL', `${TARGET_REQUIRED} for an auth node started alone`),
    jwtPrivateKeyFile: required(
      v.jwtPrivateKeyFile,
      'JWT_PRIVATE_KEY_FILE',
      'is required for an auth node (npm run keys)',
    ),
    jwtPublicKeysFile: v.jwtPublicKeysFile,
    ...pick(v, SERVER),
    ...pick(v, REDIS),
    ...pick(v, TOKENS),
    ...pick(v, AUTH),
  }),
  chat: (v) => ({
    redisTarget: required(v.redisTarget, 'REDIS_URL', `${TARGET_REQUIRED} for a chat node started alone`),
    jwtPublicKeysFile: required(
      v.jwtPublicKeysFile,
      'JWT_PUBLIC_KEYS_FILE',
      'is required for a chat node (npm run keys)',
    ),
    ...pick(v, SERVER),
    ...pick(v, REDIS),
    ...pick(v, TOKENS),
    ...pick(v, RATE_LIMIT),
    ...pick(v, CHAT),
  }),
  ops: (v) => ({
    redisTarget: required(v.redisTarget, 'REDIS_URL', TARGET_REQUIRED),
    ...pick(v, REDIS),
    accessTokenTtlS: v.accessTokenTtlS,
    rateLimitWindowMs: v.rateLimitWindowMs,
  }),
};

/**
 * Parses and validates the environment for `mode`. Throws a ConfigError naming the
 * first bad or missing variable; `main` turns that into a message and a non-zero exit.
 */
export function loadConfig<M extends ServiceMode>(env: Env, mode: M): ConfigByMode[M] {
  const config = MODES[mode](parseAll(env));
  Object.freeze(config);
  return config;
}

/** The origins a browser would send for pages served by this process itself. */
export function ownOrigins(config: Pick<ServerSettings, 'host' | 'port'>, port = config.port): string[] {
  const hosts = new Set<string>([config.host, 'localhost', '127.0.0.1']);
  if (config.host === '0.0.0.0' || config.host === '::') hosts.delete(config.host);
  return [...hosts].map((h) => `http://${h.includes(':') ? `[${h}]` : h}:${port}`);
}

/** Every variable loadConfig reads (README's configuration table names each one). */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.values(ALL).map((v) => v.env));

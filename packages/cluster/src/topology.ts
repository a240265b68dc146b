import { KEYSPACE_FLAGS, REDIS_USERNAMES } from '@securechat/state';
/**
 * The production topology, described once: which nodes run, what each one is started
 * with, and what Redis must be configured with. `npm run cluster` starts it as local
 * processes; docker-compose.yml declares it as containers and a test checks that the
 * two agree.
 */

export type Role = 'auth' | 'chat';

export interface NodeSpec {
  /** `auth-1`, `chat-3`: the NODE_ID, the log prefix and the compose service name. */
  readonly name: string;
  readonly role: Role;
  /** The root package.json script a container runs. */
  readonly npmScript: `start:${Role}`;
  /** What that script runs, relative to the repository root. */
  readonly entry: string;
  /** Node's own flags before the entry (the same in every way a node is started). */
  readonly nodeArgs: readonly string[];
}

export const DEFAULT_AUTH_NODES = 2;
export const DEFAULT_CHAT_NODES = 3;
export const DEFAULT_HTTPS_PORT = 8443;
/** The port every node listens on inside a container (the contract's PORT default). */
export const CONTAINER_NODE_PORT = 8080;

const ENTRIES: Readonly<Record<Role, string>> = {
  auth: 'services/auth/dist/main.js',
  chat: 'services/chat/dist/main.js',
};

/**
 * V8 flags per role. Chat nodes hold thousands of idle sockets: an 8 MB semi-space (V8's
 * default is 16) keeps handshake garbage from inflating their memory, while leaving the
 * young generation big enough that fan-out garbage dies there instead of being promoted
 * and paid for in major collections (docs/BENCHMARKS.md).
 */
export const NODE_ARGS: Readonly<Record<Role, readonly string[]>> = {
  auth: [],
  chat: ['--max-semi-space-size=8'],
};

export function nodeSpecs(authNodes: number, chatNodes: number): NodeSpec[] {
  const specs = (role: Role, count: number): NodeSpec[] =>
    Array.from({ length: count }, (_, i) => ({
      name: `${role}-${i + 1}`,
      role,
      npmScript: `start:${role}` as const,
      entry: ENTRIES[role],
      nodeArgs: NODE_ARGS[role],
    }));
  return [...specs('auth', authNodes), ...specs('chat', chatNodes)];
}

/** The file names `npm run keys -- <dir>` writes. */
export const KEY_FILES = Object.freeze({ privateKey: 'private.pem', jwks: 'jwks.json' });

/**
 * The built web client nginx serves (relative to the repository root): `npm run build`
 * bundles web/src into it, and embedded mode serves the same directory.
 */
export const WEB_DIST = 'web/dist';

/** Where one node runs and what it reaches; the deployment decides each of these. */
export interface NodePlacement {
  host: string;
  port: number;
  /** Single mode: REDIS_URL. */
  redisUrl?: string;
  /** Sentinel mode instead: REDIS_SENTINELS (`host:port,...`) and REDIS_SENTINEL_NAME. */
  redisSentinel?: { sentinels: string; name: string };
  /** Redis Cluster mode instead: REDIS_CLUSTER_NODES (seeds, `host:port,...`). */
  redisClusterNodes?: string;
  /** Exactly the proxy in front of the nodes (nginx), never a wide range. */
  trustProxy: string;
  allowedOrigins: readonly string[];
  /** Directory holding private.pem; only auth nodes are given it. */
  signingKeyDir: string;
  /** Directory holding jwks.json, the public keys every node trusts. */
  jwksDir: string;
  /**
   * Where each role's Redis password is (`npm run redis-acl`); the node then connects as
   * its role's ACL user. Unset: Redis without users (tests of other things).
   */
  redisPasswordFiles?: Readonly<Record<Role, string>>;
  /** The node's metrics listener (METRICS_HOST, METRICS_PORT); the node's default if absent. */
  metrics?: { host: string; port: number };
}

/** The metrics port inside a container (the nodes' METRICS_PORT default). */
export const CONTAINER_METRICS_PORT = 9464;

/**
 * The variables the topology sets for one node. Everything else in a node's environment
 * is the operator's (the cluster passes its own environment on).
 */
export function nodeEnvironment(spec: NodeSpec, placement: NodePlacement): Record<string, string> {
  const env: Record<string, string> = {
    NODE_ID: spec.name,
    HOST: placement.host,
    PORT: String(placement.port),
    ...redisVariables(placement),
    TRUST_PROXY: placement.trustProxy,
    ALLOWED_ORIGINS: placement.allowedOrigins.join(','),
    JWT_PUBLIC_KEYS_FILE: `${placement.jwksDir}/${KEY_FILES.jwks}`,
  };
  if (placement.metrics !== undefined) {
    env.METRICS_HOST = placement.metrics.host;
    env.METRICS_PORT = String(placement.metrics.port);
  }
  // Chat nodes verify tokens and hold no signing secret.
  if (spec.role === 'auth') env.JWT_PRIVATE_KEY_FILE = `${placement.signingKeyDir}/${KEY_FILES.privateKey}`;
  if (placement.redisPasswordFiles !== undefined) {
    env.REDIS_USERNAME = REDIS_USERNAMES[spec.role];
    env.REDIS_PASSWORD_FILE = placement.redisPasswordFiles[spec.role];
    // The topology configures Redis itself (REDIS_SETTINGS); a node's user may not CONFIG.
    env.CONFIGURE_KEYSPACE_EVENTS = 'false';
  }
  return env;
}

/** Where a node finds Redis: exactly one mode's variables. */
function redisVariables(placement: NodePlacement): Record<string, string> {
  if (placement.redisClusterNodes !== undefined) return { REDIS_CLUSTER_NODES: placement.redisClusterNodes };
  if (placement.redisSentinel !== undefined) {
    return {
      REDIS_SENTINELS: placement.redisSentinel.sentinels,
      REDIS_SENTINEL_NAME: placement.redisSentinel.name,
    };
  }
  if (placement.redisUrl === undefined)
    throw new Error('a node needs redisUrl, redisSentinel or redisClusterNodes');
  return { REDIS_URL: placement.redisUrl };
}

/** The origins a browser sends for the web client served by nginx on `httpsPort`. */
export function edgeOrigins(httpsPort: number): string[] {
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  return [`https://127.0.0.1${port}`, `https://localhost${port}`];
}

/**
 * What Redis must run with, as `redis.conf` directives:
 * - `appendonly yes`: a revocation or block written just before a crash survives it
 *   (Debian's default is `no`).
 * - `maxmemory 1gb` with `maxmemory-policy noeviction`: Redis's memory is bounded, and
 *   revocations, blocks and counters are never dropped to make room; a full Redis refuses
 *   writes instead. What grows with use is bounded otherwise: history by count and age
 *   (HISTORY_MAX_LEN, HISTORY_MAX_AGE_S), replies by pages (PAGE_MAX_BYTES).
 * - `notify-keyspace-events E$gx`: keyevent notifications (`E`, the
 *   `__keyevent@<db>__:<event>` channels the chat nodes subscribe to) for string writes
 *   (`$`: SET of a block or revocation), generic commands (`g`: DEL, EXPIRE) and expiries
 *   (`x`), so that a change made with redis-cli alone reaches every node. The flags must
 *   match KEYSPACE_FLAGS in packages/state/src/redis/enforcement.ts.
 * - the output buffer limits: a node's request-path connection (class `normal`, unlimited
 *   by default) is cut past 64mb, or 32mb for 60 s, so no reply can grow without bound in
 *   Redis (a node's reads are pages, 16 at a time: 4 MiB by default, far below); a node's
 *   subscriber that falls behind a burst is disconnected past the pub/sub limit (and
 *   resubscribes); its default 32mb/8mb/60 is raised.
 */
export const REDIS_SETTINGS: readonly (readonly [name: string, value: string])[] = Object.freeze([
  ['appendonly', 'yes'],
  ['appendfsync', 'everysec'],
  ['maxmemory', '1gb'],
  ['maxmemory-policy', 'noeviction'],
  ['notify-keyspace-events', KEYSPACE_FLAGS],
  ['client-output-buffer-limit', 'normal 64mb 32mb 60 pubsub 64mb 16mb 60'],
]);

/** REDIS_SETTINGS as redis-server command-line arguments. */
export function redisArguments(): string[] {
  return REDIS_SETTINGS.flatMap(([name, value]) => [`--${name}`, ...value.split(' ')]);
}

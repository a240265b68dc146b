import { isAbsolute, join, resolve } from 'node:path';
import { LOCAL_LIMITS, type NginxLimits } from './nginx-config';
import { DEFAULT_AUTH_NODES, DEFAULT_CHAT_NODES, DEFAULT_HTTPS_PORT } from './topology';

/** `npm run cluster`'s own settings; every other variable goes to the nodes. */
export interface ClusterKnobs {
  httpsPort: number;
  /** The HTTP port that redirects to HTTPS; a free one when unset. */
  httpPort: number | undefined;
  /** A free one when unset (single mode; in sentinel mode the master's). */
  redisPort: number | undefined;
  /** CLUSTER_REDIS_MODE: one redis-server, a Sentinel group, or a Redis Cluster. */
  redisMode: ClusterRedisMode;
  authNodes: number;
  chatNodes: number;
  /** Certificates, keys, Redis data, nginx's run directory and logs (git-ignored). */
  dir: string;
  limits: NginxLimits;
}

export const KNOB_PREFIX = 'CLUSTER_';

export const CLUSTER_REDIS_MODES = ['single', 'sentinel', 'cluster'] as const;
export type ClusterRedisMode = (typeof CLUSTER_REDIS_MODES)[number];

function redisMode(env: NodeJS.ProcessEnv): ClusterRedisMode {
  const raw = env.CLUSTER_REDIS_MODE?.trim() || 'single';
  const mode = CLUSTER_REDIS_MODES.find((m) => m === raw);
  if (mode === undefined)
    throw new KnobError('CLUSTER_REDIS_MODE', `must be one of ${CLUSTER_REDIS_MODES.join(', ')}`);
  return mode;
}

export class KnobError extends Error {
  constructor(variable: string, detail: string) {
    super(`invalid ${variable}: ${detail}`);
    this.name = 'KnobError';
  }
}

function integer(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new KnobError(name, `"${raw}" is not a whole number`);
  const value = Number(raw);
  if (value < min || value > max) throw new KnobError(name, `must be between ${min} and ${max}`);
  return value;
}

export function parseKnobs(env: NodeJS.ProcessEnv, repoRoot: string): ClusterKnobs {
  const dirRaw = env.CLUSTER_DIR?.trim();
  const authRate = integer(env, 'CLUSTER_NGINX_AUTH_RPS', 1, 1_000_000) ?? LOCAL_LIMITS.authPerSecond;
  const wsRate = integer(env, 'CLUSTER_NGINX_WS_RPS', 1, 1_000_000) ?? LOCAL_LIMITS.wsPerSecond;
  return {
    httpsPort: integer(env, 'CLUSTER_HTTPS_PORT', 1, 65535) ?? DEFAULT_HTTPS_PORT,
    httpPort: integer(env, 'CLUSTER_HTTP_PORT', 1, 65535),
    redisPort: integer(env, 'CLUSTER_REDIS_PORT', 1, 65535),
    redisMode: redisMode(env),
    authNodes: integer(env, 'CLUSTER_AUTH_NODES', 1, 32) ?? DEFAULT_AUTH_NODES,
    chatNodes: integer(env, 'CLUSTER_CHAT_NODES', 1, 32) ?? DEFAULT_CHAT_NODES,
    dir: dirRaw ? (isAbsolute(dirRaw) ? dirRaw : resolve(dirRaw)) : join(repoRoot, '.cluster'),
    limits: {
      connectionsPerAddress:
        integer(env, 'CLUSTER_NGINX_CONN_PER_ADDRESS', 1, 10_000_000) ?? LOCAL_LIMITS.connectionsPerAddress,
      authPerSecond: authRate,
      authBurst: authRate * 2,
      wsPerSecond: wsRate,
      wsBurst: wsRate * 2,
    },
  };
}

/** The environment every node inherits: the cluster's own, less its knobs. */
export function passedEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith(KNOB_PREFIX)));
}

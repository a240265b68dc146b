import { NODE_ARGS } from '@securechat/cluster';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKey, TokenIssuer, toJwks } from '@securechat/tokens';
import type { ClientSpec, SystemName } from './load/protocol';
import type { BenchOptions } from './options';

/** How to start one system's nodes and address its clients. */
export interface SystemUnderTest {
  readonly name: SystemName;
  readonly label: string;
  readonly script: string;
  /** `metricsPort`: ours only, when --metrics=on (otherwise its metrics are off). */
  nodeEnv(node: {
    index: number;
    port: number;
    redisUrl: string;
    /** A Redis Cluster's seeds: then REDIS_CLUSTER_NODES instead of REDIS_URL (ours only). */
    redisClusterNodes?: string;
    metricsPort?: number;
  }): Record<string, string>;
  /** Client `index` of `connections`, in `room`, connecting to the node on `port`. */
  client(index: number, room: string, publisher: boolean, port: number): ClientSpec;
}

export const SYSTEM_LABELS: Readonly<Record<SystemName, string>> = {
  ours: 'securechat (ours)',
  socketio: 'Socket.IO 4 + redis-adapter',
  relay: 'bare ws + ioredis relay',
};

/** The flags every chat node runs with (npm run start:chat, the cluster, k8s). */
export const CHAT_NODE_FLAGS = NODE_ARGS.chat.join(' ');

/** Only PATH is inherited, so no stray variable of the caller's shell changes a node or Redis. */
export function inheritedEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin' };
}

export const ORIGIN = 'http://bench.localhost';
export const ISSUER = 'securechat';
export const AUDIENCE = 'securechat';

/** The environment of one of our chat nodes as the bench runs them (rate steps and storm alike). */
export function ourNodeEnv(
  options: Pick<BenchOptions, 'chatLogLevel' | 'chatEnv'>,
  jwksFile: string,
  {
    index,
    port,
    redisUrl,
    redisClusterNodes,
    metricsPort,
  }: { index: number; port: number; redisUrl: string; redisClusterNodes?: string; metricsPort?: number },
): Record<string, string> {
  return {
    ...inheritedEnv(),
    PORT: String(port),
    HOST: '127.0.0.1',
    METRICS_HOST: '127.0.0.1',
    METRICS_PORT: metricsPort === undefined ? 'off' : String(metricsPort),
    ...(redisClusterNodes !== undefined
      ? { REDIS_CLUSTER_NODES: redisClusterNodes }
      : { REDIS_URL: redisUrl }),
    JWT_PUBLIC_KEYS_FILE: jwksFile,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    NODE_ID: `bench-chat-${index + 1}`,
    // The V8 flag `npm run start:chat` runs chat nodes with (see docs/BENCHMARKS.md).
    NODE_OPTIONS: CHAT_NODE_FLAGS,
    ALLOWED_ORIGINS: ORIGIN,
    RATE_LIMIT_MAX: '100000',
    MAX_CONNECTIONS_PER_ADDRESS: '100000',
    MAX_HANDSHAKES_PER_ADDRESS_PER_MIN: '100000',
    SHUTDOWN_GRACE_MS: '2000',
    LOG_LEVEL: options.chatLogLevel,
    ...options.chatEnv,
  };
}

/**
 * Ours: real chat nodes with authentication, history and rate limiting on. The limit
 * is raised above what a publisher sends (at most 20 messages/s, 1,200 a minute) so it
 * is checked on every send without refusing any; the connection caps are raised
 * because every client comes from 127.0.0.1.
 */
function ours(options: BenchOptions, dir: string): SystemUnderTest {
  if (!existsSync(options.chatMain)) {
    throw new Error(`${options.chatMain} not found: build the chat service first (npm run build)`);
  }
  const key = generateSigningKey();
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, `${JSON.stringify(toJwks([key.publicKey]))}\n`);
  const issuer = new TokenIssuer(key, { issuer: ISSUER, audience: AUDIENCE, ttlS: 3600 });
  return {
    name: 'ours',
    label: SYSTEM_LABELS.ours,
    script: options.chatMain,
    nodeEnv: (node) => ourNodeEnv(options, jwksFile, node),
    client: (index, room, publisher, port) => ({
      url: `ws://127.0.0.1:${port}/ws`,
      room,
      publisher,
      token: issuer.issue(`bench${String(index).padStart(5, '0')}`).token,
      origin: ORIGIN,
    }),
  };
}

function reference(name: 'socketio' | 'relay', script: string, scheme: string): SystemUnderTest {
  return {
    name,
    label: SYSTEM_LABELS[name],
    script: join(__dirname, 'servers', script),
    nodeEnv: ({ index, port, redisUrl }) => ({
      ...inheritedEnv(),
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: redisUrl,
      NODE_ID: `bench-${name}-${index + 1}`,
    }),
    client: (_index, room, publisher, port) => ({ url: `${scheme}://127.0.0.1:${port}`, room, publisher }),
  };
}

export function createSystem(name: SystemName, options: BenchOptions, dir: string): SystemUnderTest {
  switch (name) {
    case 'ours':
      return ours(options, dir);
    case 'socketio':
      return reference('socketio', 'socketio-node.js', 'http');
    case 'relay':
      return reference('relay', 'relay-node.js', 'ws');
  }
}

import { join } from 'node:path';
import { CERT_SUBJECT_ALT_NAMES } from './certificate';
import { PRODUCTION_LIMITS, type NginxSettings } from './nginx-config';
import {
  CONTAINER_METRICS_PORT,
  CONTAINER_NODE_PORT,
  DEFAULT_AUTH_NODES,
  DEFAULT_CHAT_NODES,
  DEFAULT_HTTPS_PORT,
  edgeOrigins,
  nodeSpecs,
  type NodePlacement,
  type NodeSpec,
} from './topology';

/**
 * The docker compose deployment (docker-compose.yml): the same topology as `npm run
 * cluster`, with container paths and service names. The compose file is written by hand
 * and checked against this in test/deploy/compose.test.ts.
 */
export const COMPOSE = Object.freeze({
  /** One compose service per node: change these with the services in docker-compose.yml. */
  authNodes: DEFAULT_AUTH_NODES,
  chatNodes: DEFAULT_CHAT_NODES,
  /** nginx's fixed address on the backend network: the only proxy the nodes trust. */
  subnet: '172.28.0.0/24',
  nginxAddress: '172.28.0.10',
  redisUrl: 'redis://redis:6379',
  /** Volumes: the signing key (auth nodes only) and the public key set (every node). */
  signingKeyDir: '/keys',
  jwksDir: '/jwks',
  /** Each node role's Redis password (volumes redis-auth, redis-chat; `redis-acl` fills them). */
  redisPasswordFiles: Object.freeze({ auth: '/redis-auth/password', chat: '/redis-chat/password' }),
  /** Redis's aclfile (volume redis-acl). */
  redisAclFile: '/redis-acl/users.acl',
  certDir: '/etc/nginx/certs',
  certSubjectAltNames: CERT_SUBJECT_ALT_NAMES,
  webRoot: '/usr/share/nginx/securechat',
  nginxConfig: '/etc/nginx/securechat.conf',
  /** The rendered nginx configuration in the repository (mounted at nginxConfig). */
  renderedNginxConfig: join('deploy', 'nginx', 'nginx.conf'),
  httpsPort: DEFAULT_HTTPS_PORT,
  httpPort: 8080,
  nodePort: CONTAINER_NODE_PORT,
  /** Every node's metrics listener, open on the backend network for Prometheus only. */
  metricsPort: CONTAINER_METRICS_PORT,
});

export function composeNodes(): NodeSpec[] {
  return nodeSpecs(COMPOSE.authNodes, COMPOSE.chatNodes);
}

export function composePlacement(): NodePlacement {
  return {
    host: '0.0.0.0',
    port: COMPOSE.nodePort,
    redisUrl: COMPOSE.redisUrl,
    trustProxy: COMPOSE.nginxAddress,
    allowedOrigins: edgeOrigins(COMPOSE.httpsPort),
    signingKeyDir: COMPOSE.signingKeyDir,
    jwksDir: COMPOSE.jwksDir,
    redisPasswordFiles: COMPOSE.redisPasswordFiles,
    metrics: { host: '0.0.0.0', port: COMPOSE.metricsPort },
  };
}

export function composeNginxSettings(nodes: readonly NodeSpec[]): NginxSettings {
  const upstreams = (role: NodeSpec['role']) =>
    nodes.filter((n) => n.role === role).map((n) => ({ host: n.name, port: COMPOSE.nodePort }));
  return {
    // The container's filesystem is read-only but for a tmpfs on /tmp.
    runDir: '/tmp',
    errorLog: 'stderr',
    accessLog: '/dev/stdout',
    httpsListen: String(COMPOSE.httpsPort),
    httpListen: String(COMPOSE.httpPort),
    publicHttpsPort: COMPOSE.httpsPort,
    serverName: 'localhost',
    publicHost: 'localhost',
    certFile: `${COMPOSE.certDir}/cert.pem`,
    keyFile: `${COMPOSE.certDir}/key.pem`,
    webRoot: COMPOSE.webRoot,
    authServers: upstreams('auth'),
    chatServers: upstreams('chat'),
    limits: PRODUCTION_LIMITS,
    workerProcesses: 'auto',
    workerConnections: 16384,
    workerRlimitNofile: 65535,
  };
}

export const RENDERED_HEADER =
  '# Generated from nginx/nginx.conf.template for docker compose by `npm run render:nginx`.\n' +
  '# Do not edit: change the template or packages/cluster/src/compose.ts and render again.\n';

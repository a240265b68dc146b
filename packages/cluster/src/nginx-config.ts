import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEEP_ALIVE_TIMEOUT_MS } from '@securechat/common';

/**
 * How long nginx keeps an idle connection to an auth node: well under the nodes' own
 * KEEP_ALIVE_TIMEOUT_MS, so nginx always closes first (test/cluster checks the two).
 */
export const UPSTREAM_KEEPALIVE_TIMEOUT_S = 30;
if (UPSTREAM_KEEPALIVE_TIMEOUT_S * 1000 >= KEEP_ALIVE_TIMEOUT_MS) {
  throw new Error("the upstream keep-alive must be shorter than the nodes' keep-alive");
}

/** One node behind nginx: a loopback address locally, a service name in compose. */
export interface Upstream {
  host: string;
  port: number;
}

/**
 * nginx's first line of defence, per client address. The nodes enforce the contract's
 * own limits; these only stop floods before they cost a node anything.
 */
export interface NginxLimits {
  /** Concurrent requests and WebSockets one address may hold open. */
  connectionsPerAddress: number;
  authPerSecond: number;
  authBurst: number;
  /** WebSocket handshakes. */
  wsPerSecond: number;
  wsBurst: number;
}

/**
 * A developer machine and the benchmark: thousands of sockets and handshakes from
 * 127.0.0.1 must pass.
 */
export const LOCAL_LIMITS: NginxLimits = Object.freeze({
  connectionsPerAddress: 20000,
  authPerSecond: 500,
  authBurst: 1000,
  wsPerSecond: 2000,
  wsBurst: 4000,
});

/** A public deployment: one address is one client (or one NAT). */
export const PRODUCTION_LIMITS: NginxLimits = Object.freeze({
  connectionsPerAddress: 500,
  authPerSecond: 10,
  authBurst: 40,
  wsPerSecond: 20,
  wsBurst: 60,
});

export interface NginxSettings {
  /** pid file and temp paths; nginx writes nothing outside it (besides the logs). */
  runDir: string;
  /** A file path, or 'stderr'. */
  errorLog: string;
  /** A file path (or /dev/stdout in a container). */
  accessLog: string;
  /** `127.0.0.1:8443`, or a bare port to listen on every address. */
  httpsListen: string;
  httpListen: string;
  /** The port browsers reach HTTPS on, for the redirect. */
  publicHttpsPort: number;
  serverName: string;
  /** The host name redirects to HTTPS name (never the client's Host header). */
  publicHost: string;
  /**
   * The local address nginx connects to the nodes from (`proxy_bind`), when the host's
   * ordinary addresses are shared with other clients (the local cluster: 127.0.0.2, as
   * every local process connects from 127.0.0.1). Unset: nginx has an address of its own
   * (compose's fixed backend address).
   */
  proxyBind?: string;
  certFile: string;
  keyFile: string;
  webRoot: string;
  authServers: readonly Upstream[];
  chatServers: readonly Upstream[];
  limits: NginxLimits;
  workerProcesses: number | 'auto';
  workerConnections: number;
  workerRlimitNofile: number;
  /** Failed attempts within failTimeoutS after which a node is rested for failTimeoutS. */
  maxFails?: number;
  failTimeoutS?: number;
}

/** The template in the repository's nginx/ directory. */
export function nginxTemplatePath(repoRoot: string): string {
  return join(repoRoot, 'nginx', 'nginx.conf.template');
}

const PLACEHOLDER = /\{\{([A-Z0-9_]+)\}\}/g;

/**
 * Replaces every `{{NAME}}`. A placeholder without a value, or a value no placeholder
 * uses, is an error: the template and its renderer cannot drift apart silently.
 */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  const used = new Set<string>();
  const out = template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`template placeholder {{${name}}} has no value`);
    used.add(name);
    return value;
  });
  const unused = Object.keys(values).filter((name) => !used.has(name));
  if (unused.length > 0) throw new Error(`template has no placeholder for ${unused.join(', ')}`);
  return out;
}

/** A path the template writes inside double quotes, where nginx would expand `$`. */
function safePath(what: string, path: string): string {
  if (!path.startsWith('/') || /["$\\\s;{}]/.test(path)) {
    throw new Error(`${what} must be an absolute path without quotes, $, ;, braces or spaces: ${path}`);
  }
  return path;
}

function listen(what: string, value: string): string {
  if (!/^(\d{1,5}|(\d{1,3}\.){3}\d{1,3}:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5})$/.test(value)) {
    throw new Error(`${what} must be a port or address:port: ${value}`);
  }
  return value;
}

function whole(what: string, value: number, min: number): string {
  if (!Number.isInteger(value) || value < min) throw new Error(`${what} must be a whole number >= ${min}`);
  return String(value);
}

function servers(what: string, list: readonly Upstream[], maxFails: number, failTimeoutS: number): string {
  if (list.length === 0) throw new Error(`${what} needs at least one node`);
  return list
    .map((u) => {
      if (!/^[A-Za-z0-9.-]+$/.test(u.host)) throw new Error(`${what}: bad host ${u.host}`);
      whole(`${what} port`, u.port, 1);
      return `        server ${u.host}:${u.port} max_fails=${maxFails} fail_timeout=${failTimeoutS}s;`;
    })
    .join('\n');
}

export function renderNginxConfig(template: string, s: NginxSettings): string {
  const maxFails = s.maxFails ?? 3;
  const failTimeoutS = s.failTimeoutS ?? 10;
  if (!/^[A-Za-z0-9.-]+$/.test(s.serverName)) throw new Error(`bad server name ${s.serverName}`);
  if (s.workerConnections > s.workerRlimitNofile) {
    throw new Error('workerConnections cannot exceed workerRlimitNofile');
  }
  const log = (what: string, path: string) => (path === 'stderr' ? 'stderr' : `"${safePath(what, path)}"`);
  if (!/^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:]+\]$/.test(s.publicHost))
    throw new Error(`bad public host ${s.publicHost}`);
  if (s.proxyBind !== undefined && !/^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+$/.test(s.proxyBind)) {
    throw new Error(`proxyBind must be an address: ${s.proxyBind}`);
  }
  return fillTemplate(template, {
    WORKER_PROCESSES: s.workerProcesses === 'auto' ? 'auto' : whole('workerProcesses', s.workerProcesses, 1),
    WORKER_RLIMIT_NOFILE: whole('workerRlimitNofile', s.workerRlimitNofile, 64),
    WORKER_CONNECTIONS: whole('workerConnections', s.workerConnections, 64),
    RUN_DIR: safePath('runDir', s.runDir),
    ERROR_LOG: log('errorLog', s.errorLog),
    ACCESS_LOG: log('accessLog', s.accessLog),
    HTTPS_LISTEN: listen('httpsListen', s.httpsListen),
    HTTP_LISTEN: listen('httpListen', s.httpListen),
    HTTPS_PORT_SUFFIX: s.publicHttpsPort === 443 ? '' : `:${whole('publicHttpsPort', s.publicHttpsPort, 1)}`,
    SERVER_NAME: s.serverName,
    PUBLIC_HOST: s.publicHost,
    PROXY_BIND:
      s.proxyBind === undefined
        ? '    # (no proxy_bind: nginx has an address of its own)'
        : `    proxy_bind ${s.proxyBind};`,
    UPSTREAM_KEEPALIVE_TIMEOUT: `${UPSTREAM_KEEPALIVE_TIMEOUT_S}s`,
    CERT_FILE: safePath('certFile', s.certFile),
    KEY_FILE: safePath('keyFile', s.keyFile),
    WEB_ROOT: safePath('webRoot', s.webRoot),
    AUTH_SERVERS: servers('authServers', s.authServers, maxFails, failTimeoutS),
    CHAT_SERVERS: servers('chatServers', s.chatServers, maxFails, failTimeoutS),
    CONN_PER_ADDRESS: whole('connectionsPerAddress', s.limits.connectionsPerAddress, 1),
    AUTH_RATE: `${whole('authPerSecond', s.limits.authPerSecond, 1)}r/s`,
    AUTH_BURST: whole('authBurst', s.limits.authBurst, 1),
    WS_RATE: `${whole('wsPerSecond', s.limits.wsPerSecond, 1)}r/s`,
    WS_BURST: whole('wsBurst', s.limits.wsBurst, 1),
  });
}

export function readNginxTemplate(repoRoot: string): string {
  return readFileSync(nginxTemplatePath(repoRoot), 'utf8');
}

/**
 * Descriptor limits for a local nginx: 65535 where the hard limit allows it (a process
 * that is not privileged cannot raise its hard limit, and nginx would log an alert).
 */
export function localFileLimits(): { workerRlimitNofile: number; workerConnections: number } {
  const result = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const text = result.status === 0 ? result.stdout.trim() : '';
  let rlimit = 65535;
  if (text !== 'unlimited') {
    const hard = Number.parseInt(text, 10);
    rlimit = Number.isFinite(hard) ? Math.min(rlimit, hard) : 4096;
  }
  return { workerRlimitNofile: rlimit, workerConnections: Math.min(16384, rlimit) };
}

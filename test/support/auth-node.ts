import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, type EmbeddedConfig } from '@securechat/common';
import type { AuthState } from '@securechat/state';
import { generateSigningKey, type SigningKey } from '@securechat/tokens';
import {
  bcryptjsPrimitives as bcrypt,
  createAuthMetrics,
  createAuthNode,
  PasswordHasher,
  timedBcrypt,
  type AuthNode,
  type BcryptPrimitives,
} from '@securechat/auth';
import { createMetricsRegistry, startMetricsServer, type Registry } from '@securechat/metrics';
import { Client } from './http';
import { memoryLogger } from './logs';
import { scrape, type Scrape } from './metrics';

/**
 * What a request did, in order: 'limiter.attempt', 'limiter.success', 'register.attempt',
 * 'users.get', 'users.create', 'bcrypt.hash', 'bcrypt.compare'. Lets a test assert
 * structure (one compare, limiter first) rather than guess it from timing.
 */
export type Trace = string[];

/** bcryptjs, writing each call to the trace ('bcrypt.hash', 'bcrypt.compare'). */
export function countingBcrypt(trace: Trace): BcryptPrimitives {
  return {
    hash: (password, cost) => {
      trace.push('bcrypt.hash');
      return bcrypt.hash(password, cost);
    },
    compare: (password, hash) => {
      trace.push('bcrypt.compare');
      return bcrypt.compare(password, hash);
    },
  };
}

/** The same state, with the limiters' and the user store's calls written to the trace. */
function tracedState(state: AuthState, trace: Trace): AuthState {
  const limiter = state.loginLimiter;
  const { registrationLimiter, users } = state;
  return {
    ...state,
    registrationLimiter: {
      attempt: (address) => {
        trace.push('register.attempt');
        return registrationLimiter.attempt(address);
      },
    },
    users: {
      get: (username) => {
        trace.push('users.get');
        return users.get(username);
      },
      create: (user) => {
        trace.push('users.create');
        return users.create(user);
      },
    },
    loginLimiter: {
      attempt: (user, address) => {
        trace.push('limiter.attempt');
        return limiter.attempt(user, address);
      },
      recordSuccess: (user, address) => {
        trace.push('limiter.success');
        return limiter.recordSuccess(user, address);
      },
    },
  };
}

export interface TestAuthNode {
  url: string;
  client: Client;
  node: AuthNode;
  config: EmbeddedConfig;
  signingKey: SigningKey;
  logs: ReturnType<typeof memoryLogger>;
  trace: Trace;
  /** The trace entries recorded since `mark` (a previous trace.length). */
  since(mark: number): string[];
  registry: Registry;
  /** The node's metrics listener (port 0), as Prometheus scrapes it. */
  metricsUrl: string;
  scrape(): Promise<Scrape>;
  close(): Promise<void>;
}

/**
 * One auth node as a real HTTP server on an ephemeral port: createAuthNode +
 * http.createServer, the same composition the service's main uses.
 */
export async function startAuthNode(options: {
  state: AuthState;
  env?: Record<string, string>;
  signingKey?: SigningKey;
}): Promise<TestAuthNode> {
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', ...options.env }, 'embedded');
  const logs = memoryLogger('auth');
  const trace: Trace = [];
  const signingKey = options.signingKey ?? generateSigningKey();
  const registry = createMetricsRegistry({ service: 'auth', node: config.nodeId });
  const metrics = createAuthMetrics(registry);
  const node = createAuthNode({
    config,
    state: tracedState(options.state, trace),
    signingKey,
    logger: logs.logger,
    passwords: new PasswordHasher(config.bcryptCost, timedBcrypt(countingBcrypt(trace), metrics)),
    metrics,
  });
  const metricsServer = await startMetricsServer({
    registry,
    host: '127.0.0.1',
    port: 0,
    logger: logs.logger,
  });
  await node.ready();
  const server: Server = createServer(node.app);
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    client: new Client(url),
    node,
    config,
    signingKey,
    logs,
    trace,
    since: (mark) => trace.slice(mark),
    registry,
    metricsUrl: metricsServer.url,
    scrape: () => scrape(metricsServer.url),
    close: async () => {
      await metricsServer.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

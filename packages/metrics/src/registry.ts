import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** What a process runs: the `service` label of `securechat_node_info`. */
export type ServiceName = 'auth' | 'chat' | 'embedded';

export interface NodeIdentity {
  readonly service: ServiceName;
  /** NODE_ID: chosen by the operator (validated by loadConfig), never by a client. */
  readonly node: string;
}

export interface RegistryOptions {
  /**
   * prom-client's process metrics (CPU, memory, event-loop lag, GC, handles). On in every
   * process; a test that builds many throwaway registries may leave them off.
   */
  defaultMetrics?: boolean;
}

/**
 * A registry for one node instance. Never prom-client's global registry: tests run
 * several nodes in one process, and embedded mode puts an auth and a chat node in one
 * registry. Every metric of the product is created against the registry it is given.
 */
export function createMetricsRegistry(identity: NodeIdentity, options: RegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const info = new Gauge({
    name: 'securechat_node_info',
    help: 'Always 1: which service this is and its NODE_ID',
    labelNames: ['service', 'node'],
    registers: [registry],
  });
  info.set({ service: identity.service, node: identity.node }, 1);
  return registry;
}

export { Registry };

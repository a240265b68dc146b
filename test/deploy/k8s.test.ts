import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  CONTAINER_NODE_PORT,
  DEFAULT_AUTH_NODES,
  DEFAULT_CHAT_NODES,
  KEY_FILES,
  nodeSpecs,
  type NodeSpec,
} from '@securechat/cluster';
import { REDIS_USERNAMES } from '@securechat/state';
import { ROOT } from '../support/processes';

type Json = Record<string, unknown>;

const K8S = join(ROOT, 'deploy', 'k8s');
/** The chat nodes' default PING_INTERVAL_MS, in seconds. */
const PING_INTERVAL_S = 25;

function obj(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${what} is not a mapping`);
  return value as Json;
}

function list(value: unknown, what: string): Json[] {
  if (!Array.isArray(value)) throw new Error(`${what} is not a list`);
  return value.map((v, i) => obj(v, `${what}[${i}]`));
}

/** The value at a dotted path, or undefined where the path stops. */
function at(value: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((v, key) => (v === undefined ? undefined : obj(v, path)[key]), value);
}

interface Manifest {
  file: string;
  kind: string;
  name: string;
  doc: Json;
}

function loadManifests(): Manifest[] {
  const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
      const doc = obj(document.toJS(), file);
      expect(doc.apiVersion, `${file} apiVersion`).to.be.a('string');
      return { file, kind: String(doc.kind), name: String(at(doc, 'metadata.name')), doc };
    }),
  );
}

/** Whether every label of `selector` is on `labels`. */
function selects(selector: unknown, labels: unknown): boolean {
  const want = obj(selector, 'selector');
  const have = obj(labels, 'labels');
  return Object.keys(want).length > 0 && Object.entries(want).every(([k, v]) => have[k] === v);
}

describe('deploy/k8s manifests agree with each other and with the nodes', () => {
  const manifests = loadManifests();
  const of = (kind: string) => manifests.filter((m) => m.kind === kind);
  const named = (kind: string, name: string) => {
    const found = of(kind).find((m) => m.name === name);
    if (found === undefined) throw new Error(`no ${kind} ${name}`);
    return found;
  };
  const deployments = of('Deployment');
  const container = (d: Manifest) => {
    const containers = list(at(d.doc, 'spec.template.spec.containers'), `${d.name} containers`);
    expect(containers, d.name).to.have.length(1);
    return containers[0] as Json;
  };
  const podLabels = (d: Manifest) => at(d.doc, 'spec.template.metadata.labels');
  const roleOf = (d: Manifest): NodeSpec => {
    const command = container(d).command;
    const spec = nodeSpecs(1, 1).find(
      (s) => JSON.stringify(command) === JSON.stringify(['node', ...s.nodeArgs, s.entry]),
    );
    if (spec === undefined) throw new Error(`${d.name} runs no node entry: ${JSON.stringify(command)}`);
    return spec;
  };
  const configMap = obj(at(named('ConfigMap', 'securechat-config').doc, 'data'), 'securechat-config data');

  it('parses, and kustomization.yaml lists every manifest', () => {
    const kustomization = obj(
      parseAllDocuments(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8'))[0]?.toJS(),
      'kustomization',
    );
    const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...(kustomization.resources as string[])].sort()).to.deep.equal(files.sort());
    expect(deployments.map((d) => d.name).sort()).to.deep.equal(['auth', 'chat']);
  });

  it('runs one Deployment per role with the topology’s node counts', () => {
    const counts = { auth: DEFAULT_AUTH_NODES, chat: DEFAULT_CHAT_NODES };
    for (const d of deployments) {
      expect(at(d.doc, 'spec.replicas'), d.name).to.equal(counts[roleOf(d).role]);
      expect(selects(at(d.doc, 'spec.selector.matchLabels'), podLabels(d)), `${d.name} selector`).to.equal(
        true,
      );
    }
  });

  it('probes /readyz (readiness) and /healthz (liveness) on the port the node listens on', () => {
    expect(configMap.PORT).to.equal(String(CONTAINER_NODE_PORT));
    expect(configMap.HOST).to.equal('0.0.0.0');
    for (const d of deployments) {
      const c = container(d);
      const ports = list(c.ports, `${d.name} ports`);
      const http = ports.find((p) => p.name === 'http');
      expect(http?.containerPort, `${d.name} http port`).to.equal(CONTAINER_NODE_PORT);
      const readiness = obj(at(c, 'readinessProbe.httpGet'), 'readiness');
      const liveness = obj(at(c, 'livenessProbe.httpGet'), 'liveness');
      expect(readiness.path).to.equal('/readyz');
      expect(liveness.path).to.equal('/healthz');
      for (const probe of [readiness, liveness]) expect(ports.map((p) => p.name)).to.include(probe.port);
    }
  });

  it('opens every pod’s metrics listener to Prometheus: port, annotations, a PodMonitor', () => {
    expect(configMap.METRICS_HOST).to.equal('0.0.0.0');
    const metricsPort = Number(configMap.METRICS_PORT);
    for (const d of deployments) {
      const ports = list(container(d).ports, `${d.name} ports`);
      expect(ports.find((p) => p.name === 'metrics')?.containerPort, d.name).to.equal(metricsPort);
      const annotations = obj(at(d.doc, 'spec.template.metadata.annotations'), `${d.name} annotations`);
      expect(annotations).to.deep.include({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(metricsPort),
        'prometheus.io/path': '/metrics',
      });
    }
    // No Service and no Ingress route reaches the metrics port.
    for (const svc of of('Service')) {
      expect(list(at(svc.doc, 'spec.ports'), 'ports').map((p) => p.targetPort)).not.to.include('metrics');
    }
    const monitoring = join(K8S, 'monitoring');
    const kustomization = obj(
      parseAllDocuments(readFileSync(join(monitoring, 'kustomization.yaml'), 'utf8'))[0]?.toJS(),
      'monitoring kustomization',
    );
    expect(kustomization.resources).to.deep.equal(['podmonitor.yaml']);
    const podMonitor = obj(
      parseAllDocuments(readFileSync(join(monitoring, 'podmonitor.yaml'), 'utf8'))[0]?.toJS(),
      'PodMonitor',
    );
    expect(podMonitor.kind).to.equal('PodMonitor');
    for (const d of deployments) {
      expect(selects(at(podMonitor, 'spec.selector.matchLabels'), podLabels(d)), d.name).to.equal(true);
    }
    const endpoints = list(at(podMonitor, 'spec.podMetricsEndpoints'), 'podMetricsEndpoints');
    expect(endpoints.map((e) => [e.port, e.path])).to.deep.equal([['metrics', '/metrics']]);
  });

  it('runs non-root, read-only, without capabilities, with resources set', () => {
    for (const d of deployments) {
      const pod = obj(at(d.doc, 'spec.template.spec.securityContext'), 'pod securityContext');
      expect(pod.runAsNonRoot, d.name).to.equal(true);
      const c = container(d);
      const sc = obj(c.securityContext, 'securityContext');
      expect(sc.allowPrivilegeEscalation).to.equal(false);
      expect(sc.readOnlyRootFilesystem).to.equal(true);
      expect(at(sc, 'capabilities.drop')).to.deep.equal(['ALL']);
      for (const key of ['requests.cpu', 'requests.memory', 'limits.memory']) {
        expect(at(c.resources, key), `${d.name} ${key}`).to.be.a('string');
      }
    }
  });

  it('gives each node its configuration, Redis URL, NODE_ID and the right key files', () => {
    for (const d of deployments) {
      const role = roleOf(d).role;
      const c = container(d);
      const sources = list(c.envFrom, `${d.name} envFrom`);
      expect(sources.map((s) => at(s, 'configMapRef.name') ?? null)).to.include('securechat-config');
      expect(sources.map((s) => (s.secretRef ? at(s, 'secretRef.name') : null))).to.include(
        'securechat-redis',
      );
      const env = new Map(list(c.env, `${d.name} env`).map((e) => [String(e.name), e]));
      expect(at(env.get('NODE_ID'), 'valueFrom.fieldRef.fieldPath')).to.equal('metadata.name');

      const volumes = new Map(
        list(at(d.doc, 'spec.template.spec.volumes'), 'volumes').map((v) => [String(v.name), v]),
      );
      const mounts = list(c.volumeMounts, 'volumeMounts');
      /** The Secret or ConfigMap key that appears at `file` inside the container. */
      const source = (file: string) => {
        const dir = file.slice(0, file.lastIndexOf('/'));
        const mount = mounts.find((m) => m.mountPath === dir);
        if (mount === undefined) return undefined;
        const volume = volumes.get(String(mount.name)) as Json;
        const kind = volume.secret ? 'Secret' : volume.configMap ? 'ConfigMap' : 'other';
        const ref = obj(volume.secret ?? volume.configMap, 'volume source');
        const name = String(ref.secretName ?? ref.name);
        const item = list(ref.items, 'items').find((i) => i.path === file.slice(dir.length + 1));
        return { kind, name, key: item?.key };
      };
      expect(source(String(configMap.JWT_PUBLIC_KEYS_FILE))).to.deep.equal({
        kind: 'ConfigMap',
        name: 'securechat-jwks',
        key: KEY_FILES.jwks,
      });
      const signing = env.get('JWT_PRIVATE_KEY_FILE');
      if (role === 'auth') {
        expect(source(String(signing?.value))).to.deep.equal({
          kind: 'Secret',
          name: 'securechat-signing-key',
          key: KEY_FILES.privateKey,
        });
      } else {
        expect(signing, 'a chat pod has a signing key').to.equal(undefined);
        const secrets = [...volumes.values()].filter((v) => v.secret !== undefined);
        expect(
          secrets.map((v) => at(v, 'secret.secretName')),
          'a chat pod mounts only its Redis password',
        ).to.deep.equal(['securechat-redis-chat']);
      }
      // Each role connects to Redis as its own ACL user, with its own password Secret.
      expect(env.get('REDIS_USERNAME')?.value).to.equal(REDIS_USERNAMES[role]);
      expect(source(String(env.get('REDIS_PASSWORD_FILE')?.value))).to.deep.equal({
        kind: 'Secret',
        name: `securechat-redis-${role}`,
        key: 'password',
      });
    }
  });

  it('keeps the drain inside the termination grace period', () => {
    const graceMs = Number(configMap.SHUTDOWN_GRACE_MS);
    for (const d of deployments) {
      const periodS = Number(at(d.doc, 'spec.template.spec.terminationGracePeriodSeconds'));
      const preStop = at(container(d), 'lifecycle')
        ? (at(container(d), 'lifecycle.preStop.exec.command') as string[])
        : [];
      const pauseS = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
      expect(periodS * 1000, d.name).to.be.above(graceMs + pauseS * 1000);
    }
  });

  it('has Services that select one Deployment each, on its http port', () => {
    for (const s of of('Service')) {
      const targets = deployments.filter((d) => selects(at(s.doc, 'spec.selector'), podLabels(d)));
      expect(
        targets.map((d) => d.name),
        `Service ${s.name}`,
      ).to.deep.equal([s.name]);
      const ports = list(at(s.doc, 'spec.ports'), 'ports');
      const containerPorts = list(container(targets[0] as Manifest).ports, 'ports').map((p) => p.name);
      for (const p of ports) expect(containerPorts).to.include(p.targetPort);
      expect(at(s.doc, 'spec')).not.to.have.property('sessionAffinity');
    }
  });

  it('routes /auth to the auth pods and /ws to the chat pods with WebSocket timeouts', () => {
    const ingress = of('Ingress');
    expect(ingress).to.have.length(1);
    const doc = (ingress[0] as Manifest).doc;
    const annotations = obj(at(doc, 'metadata.annotations'), 'annotations');
    for (const key of ['proxy-read-timeout', 'proxy-send-timeout']) {
      expect(Number(annotations[`nginx.ingress.kubernetes.io/${key}`]), key).to.be.above(PING_INTERVAL_S * 2);
    }
    expect(Object.keys(annotations).some((k) => k.includes('affinity'))).to.equal(false);
    expect(at(doc, 'spec.ingressClassName')).to.equal('nginx');
    const routes = list(at(doc, 'spec.rules'), 'rules').flatMap((r) => list(at(r, 'http.paths'), 'paths'));
    const routeTo = (path: string) => {
      const route = routes.find((r) => r.path === path);
      const service = named('Service', String(at(route, 'backend.service.name')));
      const portName = at(route, 'backend.service.port.name');
      expect(list(at(service.doc, 'spec.ports'), 'ports').map((p) => p.name)).to.include(portName);
      const deployment = deployments.find((d) => selects(at(service.doc, 'spec.selector'), podLabels(d)));
      return roleOf(deployment as Manifest).role;
    };
    expect(routeTo('/auth')).to.equal('auth');
    expect(routeTo('/ws')).to.equal('chat');
    const tls = list(at(doc, 'spec.tls'), 'tls');
    expect(tls[0]?.secretName).to.equal('securechat-tls');
  });

  it('has disruption budgets and autoscalers that fit the Deployments', () => {
    for (const d of deployments) {
      const pdb = of('PodDisruptionBudget').filter((p) =>
        selects(at(p.doc, 'spec.selector.matchLabels'), podLabels(d)),
      );
      expect(pdb, `${d.name} PodDisruptionBudget`).to.have.length(1);
      const hpa = of('HorizontalPodAutoscaler').filter(
        (h) => at(h.doc, 'spec.scaleTargetRef.name') === d.name,
      );
      expect(hpa, `${d.name} HorizontalPodAutoscaler`).to.have.length(1);
      const spec = obj(at((hpa[0] as Manifest).doc, 'spec'), 'hpa spec');
      expect(at(spec, 'scaleTargetRef.kind')).to.equal('Deployment');
      expect(spec.minReplicas).to.equal(at(d.doc, 'spec.replicas'));
      expect(Number(spec.maxReplicas)).to.be.above(Number(spec.minReplicas));
      // A budget that allowed no disruption at the minimum size would block node drains.
      const budget = obj(at((pdb[0] as Manifest).doc, 'spec'), 'pdb spec');
      if (budget.minAvailable !== undefined)
        expect(Number(budget.minAvailable)).to.be.below(Number(spec.minReplicas));
      else expect(Number(budget.maxUnavailable)).to.be.at.least(1);
    }
  });

  it('documents how to create every Secret and ConfigMap it references but does not hold', () => {
    const defined = new Set(manifests.map((m) => `${m.kind}/${m.name}`));
    const referenced = new Set<string>();
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (typeof value === 'object' && value !== null) {
        const o = value as Json;
        if (o.secretName !== undefined) referenced.add(`Secret/${String(o.secretName)}`);
        if (o.secretRef !== undefined) referenced.add(`Secret/${String(at(o, 'secretRef.name'))}`);
        if (o.configMapRef !== undefined) referenced.add(`ConfigMap/${String(at(o, 'configMapRef.name'))}`);
        if (o.configMap !== undefined) referenced.add(`ConfigMap/${String(at(o, 'configMap.name'))}`);
        Object.values(o).forEach(walk);
      }
    };
    manifests.forEach((m) => walk(m.doc));
    const external = [...referenced].filter((r) => !defined.has(r)).sort();
    expect(external).to.deep.equal([
      'ConfigMap/securechat-jwks',
      'Secret/securechat-redis',
      'Secret/securechat-redis-auth',
      'Secret/securechat-redis-chat',
      'Secret/securechat-signing-key',
      'Secret/securechat-tls',
    ]);
    const docs = readFileSync(join(ROOT, 'docs', 'DEPLOY.md'), 'utf8');
    for (const ref of external) {
      const [kind, name] = ref.split('/') as [string, string];
      const verb = kind === 'Secret' ? /create secret (generic|tls)/ : /create configmap/;
      const line = docs
        .split('\n')
        .find((l) => l.includes(`kubectl -n securechat`) && l.includes(` ${name} `));
      expect(line, `docs/DEPLOY.md: kubectl create for ${ref}`).to.match(verb);
    }
  });
});

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  COMPOSE,
  composeNodes,
  composePlacement,
  DEFAULT_AUTH_NODES,
  DEFAULT_CHAT_NODES,
  nodeEnvironment,
  REDIS_SETTINGS,
  renderComposeNginx,
  selfSignedArguments,
  WEB_DIST,
} from '@securechat/cluster';
import { object, type Json } from '../support/json-shape';
import { ROOT } from '../support/processes';

function read(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

function strings(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new Error(`${what} is not a list`);
  return value as string[];
}

/** The part of a `volume:/path[:mode]` mount after the volume, keyed by path. */
function mounts(service: Json, name: string): Map<string, { source: string; readOnly: boolean }> {
  return new Map(
    strings(service.volumes ?? [], `${name}.volumes`).map((v) => {
      const [source, target, mode] = v.split(':') as [string, string, string | undefined];
      return [target, { source, readOnly: mode === 'ro' }];
    }),
  );
}

/**
 * `docker-compose config` (Debian's docker-compose, installed by npm test): it needs no engine.
 * Its variables come from `variables` alone, never from a developer's .env beside the file.
 */
function composeConfig(
  file: string,
  variables: Record<string, string> = {},
  profiles: readonly string[] = [],
): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'compose-env-'));
  try {
    const envFile = join(dir, 'compose.env');
    writeFileSync(
      envFile,
      Object.entries(variables)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
    const run = spawnSync(
      'docker-compose',
      [
        '--project-directory',
        ROOT,
        '-f',
        file,
        '--env-file',
        envFile,
        ...profiles.flatMap((p) => ['--profile', p]),
        'config',
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
    );
    if (run.error !== undefined) throw run.error;
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `${NAME:-default}` in docker-compose.yml: the variables a deployment may set. */
const VARIABLE = /\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}/g;

/** docker-compose.yml as compose reads it with no variable set: every one at its default. */
function composeWithDefaults(): Json {
  const text = read('docker-compose.yml').replace(VARIABLE, (_, _name: string, value: string) => value);
  // `merge: true` resolves the file's `<<: *anchor` keys as docker compose does.
  return object(parse(text, { merge: true }) as unknown, 'docker-compose.yml');
}

describe('docker-compose config accepts docker-compose.yml', () => {
  it('validates and resolves the file with the same services the test below reads', () => {
    const result = composeConfig(join(ROOT, 'docker-compose.yml'));
    expect(result.status, result.stderr).to.equal(0);
    const resolved = object(parse(result.stdout) as unknown, 'docker-compose config output');
    const ours = object(composeWithDefaults().services, 'services');
    expect(Object.keys(object(resolved.services, 'services')).sort()).to.deep.equal(Object.keys(ours).sort());
  });

  it('refuses a file that is not a valid compose file (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'compose-'));
    try {
      const file = join(dir, 'docker-compose.yml');
      writeFileSync(file, 'services:\n  web:\n    image: nginx\n    ports: 8443\n    restart: sometimes\n');
      expect(composeConfig(file).status).to.not.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The services of the `monitoring` profile. */
const MONITORING = ['prometheus', 'grafana'];

describe('docker-compose.yml matches the topology npm run cluster starts', () => {
  const compose = composeWithDefaults();
  const services = object(compose.services, 'services');
  const specs = composeNodes();
  const service = (name: string) => object(services[name], name);

  it('declares exactly Redis, the init steps, the nodes and nginx, and monitoring under its profile', () => {
    // The same counts as `npm run cluster` by default.
    expect([COMPOSE.authNodes, COMPOSE.chatNodes]).to.deep.equal([DEFAULT_AUTH_NODES, DEFAULT_CHAT_NODES]);
    expect(Object.keys(services).sort()).to.deep.equal(
      [
        'redis',
        'redis-acl',
        'keys',
        'certs',
        'web',
        'nginx',
        ...MONITORING,
        ...specs.map((s) => s.name),
      ].sort(),
    );
    for (const [name, service] of Object.entries(services)) {
      const profiles = object(service, name).profiles;
      if (MONITORING.includes(name)) expect(profiles, name).to.deep.equal(['monitoring']);
      else expect(profiles, `${name} runs without a profile`).to.equal(undefined);
    }
  });

  for (const spec of specs) {
    describe(spec.name, () => {
      it(`runs npm run ${spec.npmScript} with the topology's environment`, () => {
        const node = service(spec.name);
        expect(node.command).to.deep.equal(['npm', 'run', spec.npmScript]);
        const env = object(node.environment, `${spec.name}.environment`);
        const expected = nodeEnvironment(spec, composePlacement());
        for (const [name, value] of Object.entries(expected)) {
          expect(String(env[name]), `${spec.name} ${name}`).to.equal(value);
        }
        if (spec.role === 'chat') expect(env).not.to.have.property('JWT_PRIVATE_KEY_FILE');
      });

      it('is built from the runtime stage, unpublished, after Redis and the keys', () => {
        const node = service(spec.name);
        expect(object(node.build, 'build').target).to.equal('runtime');
        expect(node).not.to.have.property('ports');
        expect(node.read_only).to.equal(true);
        const deps = object(node.depends_on, 'depends_on');
        expect(object(deps.redis, 'redis').condition).to.equal('service_healthy');
        expect(object(deps.keys, 'keys').condition).to.equal('service_completed_successfully');
        expect(object(deps['redis-acl'], 'redis-acl').condition).to.equal('service_completed_successfully');
      });

      it("mounts its own role's Redis password and no other", () => {
        const m = mounts(service(spec.name), spec.name);
        const own = COMPOSE.redisPasswordFiles[spec.role];
        const dir = (file: string) => file.slice(0, file.lastIndexOf('/'));
        expect(m.get(dir(own))).to.deep.equal({ source: dir(own).slice(1), readOnly: true });
        for (const [role, file] of Object.entries(COMPOSE.redisPasswordFiles)) {
          if (role !== spec.role) expect(m.has(dir(file)), `${spec.name} mounts ${file}`).to.equal(false);
        }
        expect(m.has('/redis-ops')).to.equal(false);
      });

      it('mounts the public keys, and the signing key only on an auth node', () => {
        const m = mounts(service(spec.name), spec.name);
        expect(m.get(COMPOSE.jwksDir)).to.deep.equal({ source: 'jwks', readOnly: true });
        if (spec.role === 'auth')
          expect(m.get(COMPOSE.signingKeyDir)).to.deep.equal({ source: 'keys', readOnly: true });
        else expect(m.has(COMPOSE.signingKeyDir)).to.equal(false);
      });
    });
  }

  it('starts the nodes the way the root package.json scripts say', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    for (const spec of specs) {
      expect(pkg.scripts[spec.npmScript]).to.equal(`exec node ${[...spec.nodeArgs, spec.entry].join(' ')}`);
    }
  });

  it('publishes only nginx, on the cluster ports, at the address the nodes trust (monitoring on loopback)', () => {
    const nginx = service('nginx');
    expect(strings(nginx.ports, 'nginx.ports')).to.have.members([
      `${COMPOSE.httpsPort}:${COMPOSE.httpsPort}`,
      `${COMPOSE.httpPort}:${COMPOSE.httpPort}`,
    ]);
    const networks = object(nginx.networks, 'nginx.networks');
    expect(object(networks.backend, 'backend').ipv4_address).to.equal(COMPOSE.nginxAddress);
    const backend = object(object(compose.networks, 'networks').backend, 'networks.backend');
    expect(backend.internal).to.equal(true);
    const ipamConfig = object(backend.ipam, 'ipam').config;
    expect(ipamConfig).to.be.an('array');
    expect(object((ipamConfig as unknown[])[0], 'ipam.config').subnet).to.equal(COMPOSE.subnet);
    expect(COMPOSE.nginxAddress.startsWith(COMPOSE.subnet.split('.').slice(0, 3).join('.'))).to.equal(true);
    for (const name of Object.keys(services).filter((n) => n !== 'nginx' && !MONITORING.includes(n))) {
      expect(services[name], name).not.to.have.property('ports');
    }
    for (const name of MONITORING) {
      for (const port of strings(service(name).ports, `${name}.ports`))
        expect(port, name).to.match(/^127\.0\.0\.1:/);
    }
  });

  it('runs nginx with the rendered configuration, the certificates and the web client', () => {
    const nginx = service('nginx');
    expect(strings(nginx.command, 'nginx.command')).to.include.ordered.members(['-c', COMPOSE.nginxConfig]);
    const m = mounts(nginx, 'nginx');
    expect(m.get(COMPOSE.nginxConfig)).to.deep.equal({
      source: `./${COMPOSE.renderedNginxConfig}`,
      readOnly: true,
    });
    expect(m.get(COMPOSE.certDir)).to.deep.equal({ source: 'certs', readOnly: true });
    // the web client the image built (web/dist), copied into volume `web` by the init step
    expect(m.get(COMPOSE.webRoot)).to.deep.equal({ source: 'web', readOnly: true });
    const web = service('web');
    expect(strings(web.command, 'web.command').join(' ')).to.include(`cp -R ${WEB_DIST}/. /web/`);
    expect(mounts(web, 'web').get('/web')).to.deep.equal({ source: 'web', readOnly: false });
    const deps = object(nginx.depends_on, 'nginx.depends_on');
    for (const spec of specs)
      expect(object(deps[spec.name], spec.name).condition).to.equal('service_healthy');
    expect(object(deps.certs, 'certs').condition).to.equal('service_completed_successfully');
    expect(object(deps.web, 'web').condition).to.equal('service_completed_successfully');
  });

  it('keeps deploy/nginx/nginx.conf rendered from the current template (npm run render:nginx)', () => {
    expect(read(COMPOSE.renderedNginxConfig)).to.equal(renderComposeNginx(ROOT));
  });

  it('configures Redis as the cluster does: AOF, noeviction, keyspace events, buffers', () => {
    const redis = service('redis');
    const conf = mounts(redis, 'redis');
    const confPath = strings(redis.command, 'redis.command')[1] as string;
    expect(conf.get(confPath)?.source).to.equal('./deploy/redis/redis.conf');
    const directives = new Map(
      read('deploy/redis/redis.conf')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => {
          const at = l.indexOf(' ');
          return [l.slice(0, at), l.slice(at + 1)] as const;
        }),
    );
    for (const [name, value] of REDIS_SETTINGS) expect(directives.get(name), name).to.equal(value);
  });

  it('runs Redis with the role users: the template filled in by the redis-acl init step', () => {
    const redis = service('redis');
    expect(strings(redis.command, 'redis.command').slice(-2)).to.deep.equal([
      '--aclfile',
      COMPOSE.redisAclFile,
    ]);
    const m = mounts(redis, 'redis');
    expect(m.get('/redis-acl')).to.deep.equal({ source: 'redis-acl', readOnly: true });
    expect(object(object(redis.depends_on, 'redis.depends_on')['redis-acl'], 'redis-acl').condition).to.equal(
      'service_completed_successfully',
    );
    const init = service('redis-acl');
    const command = strings(init.command, 'redis-acl.command').join(' ');
    expect(command).to.include(
      'if [ ! -f /redis-acl/users.acl ]; then node packages/cluster/dist/cli-redis-acl.js',
    );
    expect(command).to.include('cp /tmp/acl/users.acl /redis-acl/users.acl');
    for (const [role, file] of Object.entries(COMPOSE.redisPasswordFiles)) {
      expect(command).to.include(`cp /tmp/acl/${role}.password ${file}`);
    }
    const initMounts = mounts(init, 'redis-acl');
    for (const dir of ['/redis-acl', '/redis-auth', '/redis-chat', '/redis-ops']) {
      expect(initMounts.get(dir), dir).to.deep.equal({ source: dir.slice(1), readOnly: false });
    }
    // The image holds the template the init step fills, and the volumes' mount points.
    const dockerfile = read('deploy/Dockerfile');
    expect(dockerfile).to.include('COPY deploy/redis/users.acl.template ./deploy/redis/users.acl.template');
    expect(dockerfile).to.match(/chown node:node [^\n]*\/redis-auth [^\n]*\/redis-chat/);
  });

  it('makes the signing key once, and the certificate the cluster would make', () => {
    const keys = strings(service('keys').command, 'keys.command').join(' ');
    expect(keys).to.include(
      `if [ ! -f ${COMPOSE.signingKeyDir}/private.pem ]; then npm run keys -- ${COMPOSE.signingKeyDir}; fi`,
    );
    expect(keys).to.include(`cp ${COMPOSE.signingKeyDir}/jwks.json ${COMPOSE.jwksDir}/jwks.json`);
    const certs = strings(service('certs').command, 'certs.command').join(' ');
    expect(certs).to.include(selfSignedArguments('/certs/cert.pem', '/certs/key.pem').join(' '));
    expect(object(service('certs').build, 'certs.build').target).to.equal('certs');
  });

  it('builds every stage it names from deploy/Dockerfile: non-root, production deps, health check', () => {
    const dockerfile = read('deploy/Dockerfile');
    const stages = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]);
    expect(stages).to.deep.equal(['build', 'runtime', 'certs']);
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'), dockerfile.indexOf('AS certs'));
    expect(runtime).to.include('npm ci --omit=dev');
    // The pre-hooks rebuild with dev dependencies; bash hands npm's SIGTERM to node itself.
    expect(runtime).to.include('npm_config_ignore_scripts=true');
    expect(runtime).to.include('npm_config_script_shell=/bin/bash');
    expect(runtime).to.match(/^USER node$/m);
    expect(runtime).to.match(/^HEALTHCHECK .*\n\s+CMD \["node", "deploy\/healthcheck\.js"\]$/m);
    expect(read('deploy/healthcheck.js')).to.include("path: '/healthz'");
  });
  it("scrapes every node on its metrics port with the profile's Prometheus, and provisions Grafana", () => {
    // Their images are variables, as every base image is (docker-compose.yml adapts to the host).
    const raw = read('docker-compose.yml');
    for (const name of MONITORING) {
      expect(raw, name).to.match(new RegExp(`^    image: \\$\\{${name.toUpperCase()}_IMAGE:-[^}]+\\}$`, 'm'));
    }
    const prometheus = service('prometheus');
    const config = object(parse(read('deploy/prometheus/prometheus.yml')) as unknown, 'prometheus.yml');
    const targets = (config.scrape_configs as Json[]).flatMap((job) =>
      (object(job, 'job').static_configs as Json[]).flatMap((c) =>
        strings(object(c, 'static').targets, 'targets'),
      ),
    );
    expect(targets.sort()).to.deep.equal(specs.map((s) => `${s.name}:${COMPOSE.metricsPort}`).sort());
    for (const spec of specs) {
      const env = object(service(spec.name).environment, spec.name);
      expect([env.METRICS_HOST, String(env.METRICS_PORT)]).to.deep.equal([
        '0.0.0.0',
        String(COMPOSE.metricsPort),
      ]);
    }
    expect(strings(prometheus.networks, 'prometheus.networks')).to.include('backend');
    expect(mounts(prometheus, 'prometheus').get('/etc/prometheus')).to.deep.equal({
      source: './deploy/prometheus',
      readOnly: true,
    });
    expect(config.rule_files).to.deep.equal(['/etc/prometheus/alerts.yml']);
    const grafana = mounts(service('grafana'), 'grafana');
    expect(grafana.get('/etc/grafana/provisioning')).to.deep.equal({
      source: './deploy/grafana/provisioning',
      readOnly: true,
    });
    expect(grafana.get('/etc/grafana/dashboards/securechat.json')).to.deep.equal({
      source: './deploy/grafana/securechat.json',
      readOnly: true,
    });
    const provider = object(
      parse(read('deploy/grafana/provisioning/dashboards/securechat.yml')) as unknown,
      'provider',
    );
    expect(object((provider.providers as Json[])[0], 'provider').options).to.deep.equal({
      path: '/etc/grafana/dashboards',
    });
    const sources = object(
      parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as unknown,
      'ds',
    );
    expect(object((sources.datasources as Json[])[0], 'datasource').url).to.equal('http://prometheus:9090');
  });
});

describe('docker-compose.yml adapts to the host through its variables', () => {
  const text = read('docker-compose.yml');
  const defaults = new Map<string, string>();
  for (const [, name, value] of text.matchAll(VARIABLE)) {
    const known = defaults.get(name as string);
    if (known !== undefined && known !== value)
      throw new Error(`${name} has two defaults: ${known}, ${value}`);
    defaults.set(name as string, value as string);
  }

  it('gives every variable a default, documented with it in docs/DEPLOY.md', () => {
    expect(text, 'a variable without a default').to.not.match(/\$\{[A-Z][A-Z0-9_]*(:?[?+]|\})/);
    expect([...defaults.keys()].sort()).to.deep.equal(
      [
        'NODE_IMAGE',
        'DEBIAN_IMAGE',
        'REDIS_IMAGE',
        'NGINX_IMAGE',
        'SECURECHAT_TAG',
        'HTTPS_PORT',
        'HTTP_PORT',
        'NGINX_NOFILE',
        'PROMETHEUS_IMAGE',
        'GRAFANA_IMAGE',
        'PROMETHEUS_PORT',
        'GRAFANA_PORT',
      ].sort(),
    );
    const deploy = read('docs/DEPLOY.md');
    for (const [name, value] of defaults) {
      expect(deploy, name).to.include(`| \`${name}\` | \`${value}\` |`);
    }
  });

  it("keeps today's values as the defaults, the same as deploy/Dockerfile's and nginx.conf's", () => {
    expect(defaults.get('HTTPS_PORT')).to.equal(String(COMPOSE.httpsPort));
    expect(defaults.get('HTTP_PORT')).to.equal(String(COMPOSE.httpPort));
    const dockerfile = read('deploy/Dockerfile');
    for (const name of ['NODE_IMAGE', 'DEBIAN_IMAGE']) {
      expect(dockerfile, name).to.match(new RegExp(`^ARG ${name}=${defaults.get(name) ?? '?'}$`, 'm'));
    }
    expect(read(COMPOSE.renderedNginxConfig)).to.include(
      `worker_rlimit_nofile ${defaults.get('NGINX_NOFILE') ?? '?'};`,
    );
  });

  it('passes them on: base images to the builds and services, image tag, published ports, file limit', () => {
    const result = composeConfig(
      join(ROOT, 'docker-compose.yml'),
      {
        NODE_IMAGE: 'example.test/node:20',
        DEBIAN_IMAGE: 'example.test/debian:12',
        REDIS_IMAGE: 'example.test/redis:7',
        NGINX_IMAGE: 'example.test/nginx:1',
        SECURECHAT_TAG: 'v9',
        HTTPS_PORT: '9443',
        HTTP_PORT: '9080',
        NGINX_NOFILE: '4096',
        PROMETHEUS_IMAGE: 'example.test/prometheus:2',
        GRAFANA_IMAGE: 'example.test/grafana:11',
        PROMETHEUS_PORT: '19090',
        GRAFANA_PORT: '13000',
      },
      ['monitoring'],
    );
    expect(result.status, result.stderr).to.equal(0);
    const services = object(object(parse(result.stdout) as unknown, 'config').services, 'services');
    const service = (name: string) => object(services[name], name);
    const args = { NODE_IMAGE: 'example.test/node:20', DEBIAN_IMAGE: 'example.test/debian:12' };
    for (const spec of composeNodes()) {
      const node = service(spec.name);
      expect(node.image, spec.name).to.equal('securechat:v9');
      expect(object(node.build, 'build').args, spec.name).to.deep.equal(args);
      expect(object(node.environment, 'environment').ALLOWED_ORIGINS, spec.name).to.equal(
        'https://127.0.0.1:9443,https://localhost:9443',
      );
    }
    expect(service('keys').image).to.equal('securechat:v9');
    expect(service('certs').image).to.equal('securechat-certs:v9');
    expect(object(service('certs').build, 'certs.build').args).to.deep.equal(args);
    expect(service('redis').image).to.equal('example.test/redis:7');
    const nginx = service('nginx');
    expect(nginx.image).to.equal('example.test/nginx:1');
    expect(nginx.ports).to.deep.equal([
      { published: 9443, target: COMPOSE.httpsPort },
      { published: 9080, target: COMPOSE.httpPort },
    ]);
    expect(object(nginx.ulimits, 'ulimits').nofile).to.deep.equal({ soft: 4096, hard: 4096 });
    // The monitoring profile's images, and its ports published on loopback only.
    expect(service('prometheus').image).to.equal('example.test/prometheus:2');
    expect(service('prometheus').ports).to.deep.equal(['127.0.0.1:19090:9090/tcp']);
    expect(service('grafana').image).to.equal('example.test/grafana:11');
    expect(service('grafana').ports).to.deep.equal(['127.0.0.1:13000:3000/tcp']);
  });
});

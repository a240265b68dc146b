import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustRun, runCommand, type CommandResult } from './docker-engine';
import type { TlsEdge } from './tls-edge';

/**
 * The images docker-compose.yml and deploy/Dockerfile name, by their variable, that
 * scripts/docker-base-images.sh can stand in for (Prometheus: the `monitoring` profile's).
 */
export const BASE_IMAGES = Object.freeze({
  NODE_IMAGE: 'node:20-bookworm-slim',
  DEBIAN_IMAGE: 'debian:bookworm-slim',
  REDIS_IMAGE: 'redis:7.2-bookworm',
  NGINX_IMAGE: 'nginx:1.27-bookworm',
  PROMETHEUS_IMAGE: 'prom/prometheus:v2.53.0',
});

export type BaseImageVariable = keyof typeof BASE_IMAGES;

export interface BaseImageChoice {
  /** Variable → image compose is to use. */
  variables: Record<BaseImageVariable, string>;
  /** What was done for each: present, pulled, or a stand-in built (and why). */
  report: string[];
}

export interface BaseImageOptions {
  repoRoot: string;
  env: NodeJS.ProcessEnv;
  /** Where scripts/docker-base-images.sh's progress goes. */
  logFile: string;
  timeoutMs?: number;
}

/**
 * The official base images where this engine has them or can pull them; for the others,
 * the stand-ins scripts/docker-base-images.sh builds from Debian packages (reused when
 * already built from the same inputs).
 */
export async function chooseBaseImages(options: BaseImageOptions): Promise<BaseImageChoice> {
  const { env, logFile } = options;
  const variables: Record<BaseImageVariable, string> = { ...BASE_IMAGES };
  const report: string[] = [];
  const missing: BaseImageVariable[] = [];
  const pullErrors = new Set<string>();
  for (const [name, image] of Object.entries(BASE_IMAGES) as [BaseImageVariable, string][]) {
    const found = await findImage(image, env, logFile);
    if ('unavailable' in found) {
      missing.push(name);
      pullErrors.add(found.unavailable);
    } else {
      report.push(`${image}: ${found.found}`);
    }
  }
  if (missing.length === 0) return { variables, report };
  report.push(
    `cannot pull ${missing.map((name) => BASE_IMAGES[name]).join(', ')}: ${[...pullErrors].join('; ')}`,
  );

  const script = join(options.repoRoot, 'scripts', 'docker-base-images.sh');
  const stdout = await mustRun(script, [], {
    env,
    cwd: options.repoRoot,
    timeoutMs: options.timeoutMs ?? 600_000,
    onOutput: (chunk) => appendFileSync(logFile, chunk),
  });
  const built = new Map(
    stdout
      .split('\n')
      .map((line) => /^([A-Z_]+)=(\S+)$/.exec(line.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1] as string, m[2] as string]),
  );
  for (const name of missing) {
    const standIn = built.get(name);
    if (standIn === undefined)
      throw new Error(`scripts/docker-base-images.sh printed no ${name}:\n${stdout}`);
    variables[name] = standIn;
  }
  report.push(`stand-ins: ${missing.map((name) => variables[name]).join(', ')}`);
  return { variables, report };
}

/** An image the engine has, or pulls now; else why it cannot be had (the pull's last error line). */
export async function findImage(
  image: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
): Promise<{ found: 'present' | 'pulled' } | { unavailable: string }> {
  if ((await runCommand('docker', ['image', 'inspect', image], { env, timeoutMs: 20_000 })).status === 0) {
    return { found: 'present' };
  }
  const pull = await runCommand('docker', ['pull', '--quiet', image], { env, timeoutMs: 300_000 });
  appendFileSync(logFile, `docker pull ${image}: ${pull.stdout}${pull.stderr}\n`);
  if (pull.status === 0) return { found: 'pulled' };
  return { unavailable: pull.stderr.trim().split('\n').pop() ?? `docker pull exited ${String(pull.status)}` };
}

/** Networks of the engine that already use `subnet` (e.g. a project of the same compose file). */
export async function networksUsing(subnet: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const docker = (args: string[]) => mustRun('docker', args, { env, timeoutMs: 60_000 });
  const ids = (await docker(['network', 'ls', '--quiet'])).split('\n').filter((l) => l.trim() !== '');
  if (ids.length === 0) return [];
  const described = await docker([
    'network',
    'inspect',
    '--format',
    '{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{end}}',
    ...ids,
  ]);
  return described
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([name, ...subnets]) => name !== undefined && name !== '' && subnets.includes(subnet))
    .map(([name]) => name as string);
}

/** What a compose profile's checks get: the running project and a client of its edge. */
export interface Deployment {
  project: ComposeProject;
  edge: TlsEdge;
  /** The free host port the run gave each port variable of the profiles. */
  ports: Readonly<Record<string, number>>;
  /** Services of the profiles left out of the run, with why. */
  leftOut: ReadonlyMap<string, string>;
}

/**
 * A compose profile the deployment test starts with the default services, and the checks it
 * adds: they run on the whole deployment, before the tests that kill containers.
 */
export interface ComposeProfile {
  profile: string;
  /** Variables of the profile's published ports: each gets a free port. */
  portVariables?: readonly string[];
  /**
   * Services run only where their image can be had (present or pullable) and no stand-in
   * can be built: `variable` names the image (the test's environment may set it), `image`
   * is the compose default. Otherwise the service is left out of `up`, loudly.
   */
  optionalImages?: readonly { service: string; variable: string; image: string }[];
  checks: (deployment: () => Deployment) => void;
}

/** A banner in the test's output for what a reader must not miss (a skip, a service not run). */
export function shout(text: string): void {
  const bar = '!'.repeat(78);
  process.stdout.write(`\n${bar}\n  ${text}\n${bar}\n\n`);
}

export interface ComposeProjectOptions {
  repoRoot: string;
  /** The compose project name: every container, network and volume carries it. */
  name: string;
  /** docker-compose.yml's variables, written to the project's own env file. */
  variables: Readonly<Record<string, string>>;
  /** Compose profiles started along with the default services. */
  profiles?: readonly string[];
  env: NodeJS.ProcessEnv;
  /** A directory of this project's own: its env file and its log of compose output. */
  dir: string;
}

export interface Leftovers {
  containers: string[];
  networks: string[];
  volumes: string[];
}

/**
 * docker-compose.yml run as a project of its own through Debian's docker-compose 1.29
 * (the Compose v2 plugin is not packaged). Its variables come only from its own env file,
 * never from a developer's .env beside the compose file.
 */
export class ComposeProject {
  readonly name: string;
  readonly logFile: string;
  private readonly envFile: string;
  private readonly containerIds = new Map<string, string>();

  constructor(private readonly options: ComposeProjectOptions) {
    this.name = options.name;
    this.logFile = join(options.dir, 'compose.log');
    this.envFile = join(options.dir, 'compose.env');
    writeFileSync(
      this.envFile,
      Object.entries(options.variables)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
  }

  /** docker-compose <args> for this project; its output is also appended to the log. */
  compose(args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
    const { repoRoot } = this.options;
    const all = [
      '--project-name',
      this.name,
      '--project-directory',
      repoRoot,
      '--file',
      join(repoRoot, 'docker-compose.yml'),
      '--env-file',
      this.envFile,
      '--ansi',
      'never',
      ...(this.options.profiles ?? []).flatMap((p) => ['--profile', p]),
      ...args,
    ];
    appendFileSync(this.logFile, `\n$ docker-compose ${args.join(' ')}\n`);
    return runCommand('docker-compose', all, {
      env: this.options.env,
      cwd: repoRoot,
      timeoutMs,
      onOutput: (chunk) => appendFileSync(this.logFile, chunk),
    });
  }

  async mustCompose(args: readonly string[], timeoutMs?: number): Promise<string> {
    const result = await this.compose(args, timeoutMs);
    if (result.status !== 0) {
      throw new Error(
        `docker-compose ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stderr.slice(-3000)}`,
      );
    }
    return result.stdout;
  }

  docker(args: readonly string[], timeoutMs = 60_000): Promise<string> {
    return mustRun('docker', args, { env: this.options.env, timeoutMs });
  }

  /** The container of a service (one replica each here), by compose's labels. */
  async container(service: string): Promise<string> {
    const known = this.containerIds.get(service);
    if (known !== undefined) return known;
    const listed = await this.docker([
      'ps',
      '--all',
      '--no-trunc',
      '--filter',
      `label=com.docker.compose.project=${this.name}`,
      '--format',
      '{{.ID}} {{.Label "com.docker.compose.service"}}',
    ]);
    const byService = new Map<string, string[]>();
    for (const line of listed.split('\n')) {
      const [id, name] = line.trim().split(' ');
      if (id === undefined || name === undefined) continue;
      byService.set(name, [...(byService.get(name) ?? []), id]);
    }
    const ids = byService.get(service) ?? [];
    if (ids.length !== 1) throw new Error(`${ids.length} containers for service ${service}`);
    const id = ids[0] as string;
    this.containerIds.set(service, id);
    return id;
  }

  /** A command in a running service's container, as the container's user (docker exec). */
  async exec(service: string, command: readonly string[]): Promise<string> {
    return this.docker(['exec', await this.container(service), ...command]);
  }

  /** Everything a service's container wrote, stdout and stderr. */
  async logs(service: string): Promise<string> {
    const id = await this.container(service);
    const result = await runCommand('docker', ['logs', id], { env: this.options.env, timeoutMs: 60_000 });
    if (result.status !== 0) throw new Error(`docker logs ${service}: ${result.stderr}`);
    return `${result.stdout}${result.stderr}`;
  }

  /** The JSON lines of a service's log (npm's banner and anything else skipped). */
  async jsonLogs(service: string): Promise<Record<string, unknown>[]> {
    return (await this.logs(service)).split('\n').flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** `running`, `exited`, … and the health check's verdict where there is one. */
  async state(service: string): Promise<{ status: string; health: string | undefined }> {
    const id = await this.container(service);
    const out = await this.docker([
      'inspect',
      '--format',
      '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}',
      id,
    ]);
    const [status = '', health] = out.trim().split(' ');
    return { status, health: health === '' ? undefined : health };
  }

  /**
   * The project's containers, networks and volumes still present: those carrying compose's
   * project label, and any named like the project's (`<project>_…`).
   */
  async leftovers(): Promise<Leftovers> {
    const label = `label=com.docker.compose.project=${this.name}`;
    const prefix = `${this.name}_`;
    const list = async (args: string[]) => {
      const [labelled, all] = await Promise.all([
        this.docker([...args, '--filter', label]),
        this.docker(args),
      ]);
      const names = (text: string) =>
        text
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '');
      return [...new Set([...names(labelled), ...names(all).filter((n) => n.startsWith(prefix))])].sort();
    };
    return {
      containers: await list(['ps', '--all', '--format', '{{.Names}}']),
      networks: await list(['network', 'ls', '--format', '{{.Name}}']),
      volumes: await list(['volume', 'ls', '--format', '{{.Name}}']),
    };
  }
}

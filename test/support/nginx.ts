import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ensureCertificate,
  freePorts,
  httpStatus,
  LOCAL_LIMITS,
  localFileLimits,
  locateTools,
  ManagedProcess,
  PROXY_SOURCE,
  readNginxTemplate,
  renderNginxConfig,
  type NginxLimits,
  WEB_DIST,
} from '@securechat/cluster';
import { ROOT } from './processes';

export interface NginxOptions {
  /** Ports of auth nodes on 127.0.0.1. */
  authPorts: number[];
  /** Ports of chat nodes on 127.0.0.1 (nothing needs to listen there). */
  chatPorts: number[];
  limits?: Partial<NginxLimits>;
  webRoot?: string;
}

/**
 * A real nginx from the repository's template, for one test suite: its own temporary
 * run directory, a self-signed certificate made with openssl, free HTTPS and HTTP ports.
 */
export class NginxServer {
  private constructor(
    readonly dir: string,
    readonly httpsPort: number,
    readonly httpPort: number,
    /** The self-signed certificate, to pass as `ca` to https and tls clients. */
    readonly ca: Buffer,
    private readonly proc: ManagedProcess,
  ) {}

  get url(): string {
    return `https://127.0.0.1:${this.httpsPort}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get accessLogFile(): string {
    return join(this.dir, 'access.log');
  }

  get errorLogFile(): string {
    return join(this.dir, 'error.log');
  }

  accessLog(): string {
    return readFileSync(this.accessLogFile, 'utf8');
  }

  errorLog(): string {
    return readFileSync(this.errorLogFile, 'utf8');
  }

  /** The access log as parsed JSON lines. */
  accessEntries(): Record<string, unknown>[] {
    return this.accessLog()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  static async start(options: NginxOptions): Promise<NginxServer> {
    const nginx = locateTools(process.env.PATH).found.get('nginx');
    if (nginx === undefined) throw new Error('nginx is not installed (npm test installs it as root)');
    const dir = mkdtempSync(join(tmpdir(), 'securechat-nginx-'));
    // nginx started as root runs its workers as nobody; they need the temp paths in here,
    // and the web client's files, copied because the checkout may be out of their reach.
    chmodSync(dir, 0o755);
    const webRoot = options.webRoot ?? join(dir, 'web');
    if (options.webRoot === undefined) cpSync(join(ROOT, WEB_DIST), webRoot, { recursive: true });
    try {
      const tls = await ensureCertificate(join(dir, 'tls'));
      const ca = readFileSync(tls.cert);
      let lastError: unknown;
      // Free ports are free when asked for, not necessarily when nginx binds them.
      for (let attempt = 0; attempt < 3; attempt++) {
        const [httpsPort, httpPort] = (await freePorts(2)) as [number, number];
        const config = renderNginxConfig(readNginxTemplate(ROOT), {
          runDir: dir,
          errorLog: join(dir, 'error.log'),
          accessLog: join(dir, 'access.log'),
          httpsListen: `127.0.0.1:${httpsPort}`,
          httpListen: `127.0.0.1:${httpPort}`,
          publicHttpsPort: httpsPort,
          serverName: 'localhost',
          publicHost: '127.0.0.1',
          proxyBind: PROXY_SOURCE,
          certFile: tls.cert,
          keyFile: tls.key,
          webRoot,
          authServers: options.authPorts.map((port) => ({ host: '127.0.0.1', port })),
          chatServers: options.chatPorts.map((port) => ({ host: '127.0.0.1', port })),
          limits: { ...LOCAL_LIMITS, ...options.limits },
          workerProcesses: 1,
          ...localFileLimits(),
        });
        const configFile = join(dir, 'nginx.conf');
        writeFileSync(configFile, config);
        const proc = new ManagedProcess({
          name: 'nginx',
          command: nginx,
          args: ['-p', dir, '-c', configFile, '-e', join(dir, 'error.log')],
          env: { PATH: process.env.PATH },
          output: 'capture',
        }).start();
        const server = new NginxServer(dir, httpsPort, httpPort, ca, proc);
        try {
          await proc.waitUntil(async () => (await httpStatus(`${server.url}/healthz`, ca)) === 200, {
            what: '/healthz',
            timeoutMs: 10_000,
            intervalMs: 100,
            abort: () => (proc.exit ? `exited: ${server.diagnostics()}` : undefined),
          });
          return server;
        } catch (err) {
          lastError = err;
          await proc.stop('SIGKILL', 1000);
        }
      }
      throw lastError instanceof Error ? lastError : new Error('nginx did not start');
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** nginx's own output and the end of its error log, for a failure message. */
  diagnostics(): string {
    let errorLog = '';
    try {
      errorLog = this.errorLog().slice(-2000);
    } catch {
      // Not written yet.
    }
    return [this.proc.text(), errorLog].join('\n');
  }

  /** Graceful stop (SIGQUIT), then the process group is killed if anything is left. */
  async stop(): Promise<void> {
    await this.proc.stop('SIGQUIT', 5000);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

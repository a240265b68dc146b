/**
 * Drivers that run the same SDK scenarios against either build: the Node build in this
 * process, or the browser build (packages/sdk/dist/browser.mjs) inside real Chromium,
 * driven through playwright-core. A scenario sees a RemoteClient either way: method
 * calls with JSON arguments and results, and the events recorded so far.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ChatClient, ChatError, type ChatClientEvents } from '@securechat/sdk';
import { launchChromium } from '../support/chromium';
import { ROOT } from '../support/processes';

/** An event as recorded: its name and JSON arguments (a ChatError as `{name, code, message}`). */
export interface RecordedEvent {
  event: string;
  args: unknown[];
}

/** A client call that failed: the ChatError's code and message. */
export class RemoteError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RemoteClient {
  readonly user: string;
  call<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  events(): Promise<RecordedEvent[]>;
}

/** Options a scenario may give (JSON: the browser gets them as they are). */
export type ClientOptions = Record<string, unknown> & { url: string | string[] };

export interface SdkDriver {
  readonly name: string;
  /** Opens a client of `user` (not connected); its token comes from the TokenGate. */
  client(user: string, options: ClientOptions): Promise<RemoteClient>;
  /** Ends every client of the current test. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** Access tokens for the clients, which a test can hold back (a client then cannot reconnect). */
export class TokenGate {
  private readonly held = new Map<string, Promise<void>>();
  private readonly releases = new Map<string, () => void>();

  constructor(private readonly mint: (user: string) => string) {}

  hold(user: string): void {
    if (this.held.has(user)) return;
    this.held.set(user, new Promise((resolve) => this.releases.set(user, resolve)));
  }

  release(user: string): void {
    this.releases.get(user)?.();
    this.releases.delete(user);
    this.held.delete(user);
  }

  async token(user: string): Promise<string> {
    await this.held.get(user);
    return this.mint(user);
  }

  releaseAll(): void {
    for (const user of [...this.releases.keys()]) this.release(user);
  }
}

const EVENTS: (keyof ChatClientEvents)[] = [
  'welcome',
  'message',
  'presence',
  'read',
  'disconnect',
  'reconnecting',
  'reconnected',
  'token_refreshed',
  'rate_limited',
  'close',
  'error',
];

function plain(value: unknown): unknown {
  if (value instanceof ChatError) return { name: 'ChatError', code: value.code, message: value.message };
  return JSON.parse(JSON.stringify(value ?? null)) as unknown;
}

/** The Node build, in this process. */
export class NodeDriver implements SdkDriver {
  readonly name = 'node';
  private readonly clients: ChatClient[] = [];

  constructor(
    private readonly gate: TokenGate,
    private readonly origin: string,
  ) {}

  client(user: string, options: ClientOptions): Promise<RemoteClient> {
    const client = new ChatClient({
      ...(options as { url: string }),
      origin: this.origin,
      getToken: () => this.gate.token(user),
    });
    this.clients.push(client);
    const recorded: RecordedEvent[] = [];
    for (const event of EVENTS) {
      (client.on as (e: string, l: (...args: unknown[]) => void) => ChatClient)(event, (...args) =>
        recorded.push({ event, args: args.map(plain) }),
      );
    }
    return Promise.resolve({
      user,
      call: async <T>(method: string, ...args: unknown[]): Promise<T> => {
        const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
        if (typeof fn !== 'function') throw new Error(`no method ${method}`);
        try {
          return plain(await fn.apply(client, args)) as T;
        } catch (err) {
          if (err instanceof ChatError) throw new RemoteError(err.code, err.message);
          throw err;
        }
      },
      events: () => Promise.resolve([...recorded]),
    });
  }

  async reset(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
  }

  close(): Promise<void> {
    return this.reset();
  }
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>sdk test page</title>
<script type="module">
  import * as sdk from '/sdk.mjs';
  const clients = new Map();
  const events = new Map();
  const plain = (v) => v instanceof sdk.ChatError
    ? { name: 'ChatError', code: v.code, message: v.message }
    : JSON.parse(JSON.stringify(v === undefined ? null : v));
  window.harness = {
    create(id, user, options) {
      const client = new sdk.ChatClient({
        ...options,
        getToken: async () => {
          const res = await fetch('/token?user=' + encodeURIComponent(user));
          if (!res.ok) throw new Error('no token');
          return res.text();
        },
      });
      const recorded = [];
      for (const event of ${JSON.stringify(EVENTS)}) {
        client.on(event, (...args) => recorded.push({ event, args: args.map(plain) }));
      }
      clients.set(id, client);
      events.set(id, recorded);
    },
    async call(id, method, args) {
      const client = clients.get(id);
      try {
        return { ok: true, value: plain(await client[method](...args)) };
      } catch (err) {
        return { ok: false, code: err && err.code ? err.code : 'unknown', message: String(err && err.message) };
      }
    },
    events: (id) => events.get(id),
    async closeAll() {
      await Promise.all([...clients.values()].map((c) => c.close()));
      clients.clear();
    },
  };
  window.harnessReady = true;
</script>`;

/** Serves the test page, the browser build and tokens, on the origin the chat nodes allow. */
export class PageServer {
  private constructor(private readonly http: Server) {}

  static async start(gate: TokenGate): Promise<PageServer> {
    const bundle = join(ROOT, 'packages', 'sdk', 'dist', 'browser.mjs');
    const http = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://page');
      if (url.pathname === '/') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
      } else if (url.pathname === '/sdk.mjs') {
        res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(readFileSync(bundle));
      } else if (url.pathname === '/token') {
        gate.token(url.searchParams.get('user') ?? '').then(
          (token) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(token),
          () => res.writeHead(500).end(),
        );
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return new PageServer(http);
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

/** The browser build, in a page of a real Chromium. */
export class BrowserDriver implements SdkDriver {
  readonly name = 'browser';
  private page: Page | undefined;
  private next = 0;

  private constructor(
    private readonly browser: Browser,
    private readonly pages: PageServer,
  ) {}

  static async start(pages: PageServer): Promise<BrowserDriver> {
    return new BrowserDriver(await launchChromium(), pages);
  }

  private async currentPage(): Promise<Page> {
    if (this.page === undefined) {
      const page = await this.browser.newPage();
      await page.goto(`${this.pages.origin}/`);
      await page.waitForFunction(
        () => (globalThis as unknown as { harnessReady?: boolean }).harnessReady === true,
      );
      this.page = page;
    }
    return this.page;
  }

  async client(user: string, options: ClientOptions): Promise<RemoteClient> {
    const page = await this.currentPage();
    const id = `c${++this.next}`;
    await page.evaluate(
      ([i, u, o]) => (globalThis as unknown as { harness: PageHarness }).harness.create(i, u, o),
      [id, user, options] as const,
    );
    return {
      user,
      call: async <T>(method: string, ...args: unknown[]): Promise<T> => {
        const result = await page.evaluate(
          ([i, m, a]) => (globalThis as unknown as { harness: PageHarness }).harness.call(i, m, a),
          [id, method, args] as const,
        );
        if (!result.ok) throw new RemoteError(result.code ?? 'unknown', result.message ?? '');
        return result.value as T;
      },
      events: () =>
        page.evaluate((i) => (globalThis as unknown as { harness: PageHarness }).harness.events(i), id),
    };
  }

  async reset(): Promise<void> {
    const page = this.page;
    this.page = undefined;
    if (page === undefined) return;
    await page
      .evaluate(() => (globalThis as unknown as { harness: PageHarness }).harness.closeAll())
      .catch(() => undefined);
    await page.close();
  }

  async close(): Promise<void> {
    await this.reset();
    await this.browser.close();
  }
}

/** The page's harness object, as seen from code that playwright serialises into the page. */
interface PageHarness {
  create(id: string, user: string, options: unknown): void;
  call(
    id: string,
    method: string,
    args: unknown[],
  ): Promise<{ ok: boolean; value?: unknown; code?: string; message?: string }>;
  events(id: string): RecordedEvent[];
  closeAll(): Promise<void>;
}

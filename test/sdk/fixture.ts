import { ChatClient, type ChatClientEvents, type ChatClientOptions } from '@securechat/sdk';
import { FakeChatServer, fakeJwt } from './fake-chat-server';

/** Hands out fresh, distinct tokens and remembers them. */
export class TokenSource {
  readonly issued: string[] = [];

  constructor(
    private readonly sub = 'ann',
    private readonly ttlS = 900,
    private readonly now: () => number = Date.now,
  ) {}

  readonly getToken = (): Promise<string> => {
    const token = fakeJwt({
      sub: this.sub,
      exp: Math.floor(this.now() / 1000) + this.ttlS,
      jti: `t${this.issued.length + 1}`,
    });
    this.issued.push(token);
    return Promise.resolve(token);
  };
}

/** Servers and clients of one test, all released in afterEach. */
export class Fixture {
  private readonly servers: FakeChatServer[] = [];
  private readonly clients: ChatClient[] = [];

  async server(nodeId?: string): Promise<FakeChatServer> {
    const s = await FakeChatServer.start(nodeId);
    this.servers.push(s);
    return s;
  }

  client(options: Partial<ChatClientOptions> & Pick<ChatClientOptions, 'url'>): ChatClient {
    const tokens = new TokenSource();
    const client = new ChatClient({ getToken: tokens.getToken, ...options });
    this.clients.push(client);
    return client;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
    await Promise.all(this.servers.splice(0).map((s) => s.close()));
  }
}

/** Every emission of `event`, as argument lists, from now on. */
export function record<K extends keyof ChatClientEvents>(
  client: ChatClient,
  event: K,
): ChatClientEvents[K][] {
  const seen: ChatClientEvents[K][] = [];
  // The emitter's typed `on` cannot relate a generic K to its listener type.
  (client.on as (e: K, l: (...args: ChatClientEvents[K]) => void) => ChatClient)(event, (...args) =>
    seen.push(args),
  );
  return seen;
}

/**
 * The next emission of `event`. Unlike events.once, an `error` emitted meanwhile does not
 * reject it: the SDK emits non-fatal errors that a test may not be about.
 */
export function next<K extends keyof ChatClientEvents>(
  client: ChatClient,
  event: K,
): Promise<ChatClientEvents[K]> {
  return new Promise((resolve) => {
    (client.once as (e: K, l: (...args: ChatClientEvents[K]) => void) => ChatClient)(event, (...args) =>
      resolve(args),
    );
  });
}

import { expect } from 'chai';
import WebSocket from 'ws';
import { ChatClient } from '@securechat/sdk';
import { httpsSend, type HttpsReply, type HttpsRequestOptions } from './https';
import { TestClient, type Frame } from './ws-client';

export const PASSWORD = 'correct horse battery staple';

export interface Tokens {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}

export type TokenMethod = 'header' | 'subprotocol' | 'query';

export interface Accepted {
  client: TestClient;
  welcome: Frame;
  /** The Sec-WebSocket-Protocol header of the 101. */
  protocolHeader?: string | undefined;
}

/** A handshake's credentials and what else it sends (the edge's own origin by default). */
export interface HandshakeOptions {
  token?: string | undefined;
  method?: TokenMethod;
  origin?: string;
  headers?: Record<string, string>;
}

export interface Refusal {
  status: number;
  body: string;
}

export function isAccepted(result: Accepted | Refusal): result is Accepted {
  return 'client' in result;
}

/** The payload of a JWT, unverified: for reading `jti` in a test, never for trusting it. */
export function jwtPayload(jwt: string): Record<string, unknown> {
  const payload = jwt.split('.')[1];
  if (payload === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * A client of a deployment's TLS edge (nginx): the auth API and WebSockets at one https
 * URL, trusting only the deployment's own certificate. Every socket and SDK client it
 * opens is closed by closeAll(); every token it handles is remembered, so that a test can
 * prove none reached a log.
 */
export class TlsEdge {
  /** Access tokens, their signatures and refresh tokens handed out so far. */
  readonly secrets = new Set<string>();
  private readonly sockets: TestClient[] = [];
  private readonly sdkClients: ChatClient[] = [];

  constructor(
    readonly url: string,
    readonly ca: Buffer,
    /** The Origin the deployment allows (its own public origin). */
    readonly origin: string,
  ) {}

  get wsUrl(): string {
    return `${this.url.replace(/^https:/, 'wss:')}/ws`;
  }

  send(method: string, path: string, options: HttpsRequestOptions = {}): Promise<HttpsReply> {
    return httpsSend(this.url, this.ca, method, path, options);
  }

  remember(tokens: Tokens): Tokens {
    this.secrets.add(tokens.access_token);
    this.secrets.add(tokens.access_token.split('.')[2] ?? tokens.access_token);
    this.secrets.add(tokens.refresh_token);
    return tokens;
  }

  /** Registers `username`; resolves with the reply's X-Request-Id. */
  async register(username: string): Promise<string> {
    const reply = await this.send('POST', '/auth/register', { body: { username, password: PASSWORD } });
    expect(reply.status, reply.text).to.equal(201);
    expect(JSON.parse(reply.text)).to.deep.equal({ username });
    return String(reply.headers['x-request-id']);
  }

  /** Logs `username` in; resolves with its tokens and the reply's X-Request-Id. */
  async login(username: string): Promise<{ tokens: Tokens; requestId: string }> {
    const reply = await this.send('POST', '/auth/login', { body: { username, password: PASSWORD } });
    expect(reply.status, reply.text).to.equal(200);
    return {
      tokens: this.remember(JSON.parse(reply.text) as Tokens),
      requestId: String(reply.headers['x-request-id']),
    };
  }

  async newUser(username: string): Promise<string> {
    await this.register(username);
    return (await this.login(username)).tokens.access_token;
  }

  /** One wss handshake through the edge: the socket and its welcome, or the HTTP refusal. */
  handshake(token: string | undefined, method: TokenMethod = 'header'): Promise<Accepted | Refusal> {
    return this.handshakeWith({ token, method });
  }

  handshakeWith(options: HandshakeOptions): Promise<Accepted | Refusal> {
    const { token, method = 'header' } = options;
    const headers: Record<string, string> = { ...options.headers };
    const protocols = ['chat.v1'];
    let url = this.wsUrl;
    if (token !== undefined) {
      if (method === 'header') headers.Authorization = `Bearer ${token}`;
      if (method === 'subprotocol') protocols.push(`bearer.${token}`);
      if (method === 'query') url += `?token=${encodeURIComponent(token)}`;
    }
    const ws = new WebSocket(url, protocols, {
      ca: this.ca,
      headers,
      origin: options.origin ?? this.origin,
      perMessageDeflate: false,
    });
    const client = new TestClient(ws);
    let protocolHeader: string | undefined;
    ws.once('upgrade', (res) => {
      const value = res.headers['sec-websocket-protocol'];
      protocolHeader = Array.isArray(value) ? value.join(',') : value;
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        this.sockets.push(client);
        client
          .next((f) => f.type === 'welcome', 10_000)
          .then((welcome) => resolve({ client, welcome, protocolHeader }), reject);
      });
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      ws.once('error', reject);
    });
  }

  async accepted(token: string, method: TokenMethod = 'header'): Promise<Accepted> {
    const result = await this.handshake(token, method);
    if (!isAccepted(result)) throw new Error(`handshake refused: ${result.status} ${result.body}`);
    return result;
  }

  refused(token: string | undefined, method: TokenMethod = 'header'): Promise<Refusal> {
    return this.refusedWith({ token, method });
  }

  async refusedWith(options: HandshakeOptions): Promise<Refusal> {
    const result = await this.handshakeWith(options);
    if (isAccepted(result)) {
      result.client.ws.terminate();
      throw new Error(`the handshake was accepted (101) on ${String(result.welcome.node)}`);
    }
    return result;
  }

  /**
   * Opens sockets, taking `tokens` in turn, until `enough` holds: the balancer decides
   * where each lands (least connections), so a few suffice to cover every node.
   */
  async spread(
    tokens: readonly string[],
    enough: (open: Accepted[]) => boolean,
    max = 12,
  ): Promise<Accepted[]> {
    const open: Accepted[] = [];
    while (!enough(open)) {
      if (open.length >= max) {
        throw new Error(`${max} sockets landed on ${open.map((o) => String(o.welcome.node)).join(', ')}`);
      }
      open.push(await this.accepted(tokens[open.length % tokens.length] as string));
    }
    return open;
  }

  /**
   * An SDK client through the edge. `refreshAheadMs` over the token's life makes it ask
   * `getToken` before every attempt (it reuses a token with longer to live by default).
   */
  sdk(
    getToken: () => Promise<string>,
    tokenMethod: TokenMethod = 'header',
    options: { refreshAheadMs?: number } = {},
  ): ChatClient {
    const client = new ChatClient({
      url: this.wsUrl,
      origin: this.origin,
      ca: this.ca,
      getToken,
      tokenMethod,
      reconnect: { baseDelayMs: 50, maxDelayMs: 500 },
      ...options,
    });
    this.sdkClients.push(client);
    return client;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.sdkClients.map((c) => c.close().catch(() => undefined)));
    for (const socket of this.sockets) socket.ws.terminate();
  }
}

/** The distinct nodes a set of sockets landed on. */
export function nodesOf(open: readonly { welcome: Frame | { node: string } }[]): Set<string> {
  return new Set(open.map((o) => String(o.welcome.node)));
}

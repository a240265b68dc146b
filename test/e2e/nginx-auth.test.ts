import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { freePort, nodeEnvironment, nodeSpecs, PROXY_SOURCE } from '@securechat/cluster';
import { httpsSend, type HttpsReply, type HttpsRequestOptions } from '../support/https';
import { NginxServer } from '../support/nginx';
import { makeKeys, ServiceProcess } from '../support/processes';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { waitFor } from '../support/wait';

type Reply = HttpsReply;

function send(
  nginx: NginxServer,
  method: string,
  path: string,
  options: HttpsRequestOptions = {},
): Promise<Reply> {
  return httpsSend(nginx.url, nginx.ca, method, path, options);
}

function json(reply: Reply): Record<string, unknown> {
  return JSON.parse(reply.text) as Record<string, unknown>;
}

/** Writes `text` on a new connection (TLS on the HTTPS port) and resolves with all it got back. */
function rawRequest(
  nginx: NginxServer,
  port: number,
  text: string,
  tls = port === nginx.httpsPort,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = tls
      ? tlsConnect({ host: '127.0.0.1', port, ca: nginx.ca, servername: 'localhost' }, () =>
          socket.write(text),
        )
      : netConnect({ host: '127.0.0.1', port }, () => socket.write(text));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.once('error', reject);
  });
}

/** Resolves with the negotiated protocol, or rejects with the handshake's error. */
function tlsHandshake(nginx: NginxServer, options: ConnectionOptions): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: nginx.httpsPort, ca: nginx.ca, ...options }, () => {
      const protocol = socket.getProtocol();
      socket.end();
      resolve(protocol);
    });
    socket.once('error', reject);
  });
}

const HSTS = 'max-age=63072000; includeSubDomains';

describe('nginx in front of auth nodes, over TLS @redis @nginx', function () {
  this.timeout(30_000);
  let redis: RedisServer;
  let keysDir: string;
  let nodes: ServiceProcess[] = [];
  let nginx: NginxServer;
  let username: string;
  const password = 'correct horse battery';

  before(async () => {
    redis = await RedisServer.start();
    keysDir = mkdtempSync(join(tmpdir(), 'securechat-keys-'));
    makeKeys(keysDir);
    const prefix = uniquePrefix('e2e');
    const authSpecs = nodeSpecs(2, 0);
    nodes = await Promise.all(
      authSpecs.map((spec) =>
        ServiceProcess.start(spec.entry, {
          name: spec.name,
          nodeArgs: spec.nodeArgs,
          env: (port) => ({
            ...nodeEnvironment(spec, {
              host: '127.0.0.1',
              port,
              redisUrl: redis.url,
              trustProxy: PROXY_SOURCE,
              allowedOrigins: [],
              signingKeyDir: keysDir,
              jwksDir: keysDir,
            }),
            REDIS_PREFIX: prefix,
            LOG_LEVEL: 'info',
          }),
        }),
      ),
    );
    // No chat node yet: /ws goes to a port where nothing listens.
    nginx = await NginxServer.start({ authPorts: nodes.map((n) => n.port), chatPorts: [await freePort()] });
    username = `e2e_${Date.now().toString(36)}`;
  });

  after(async () => {
    await nginx?.destroy();
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.destroy();
    if (keysDir) rmSync(keysDir, { recursive: true, force: true });
  });

  it('registers and logs in through nginx, and the token works', async () => {
    const registered = await send(nginx, 'POST', '/auth/register', { body: { username, password } });
    expect(registered.status, registered.text).to.equal(201);
    const login = await send(nginx, 'POST', '/auth/login', { body: { username, password } });
    expect(login.status, login.text).to.equal(200);
    const tokens = json(login);
    expect(tokens.token_type).to.equal('Bearer');
    const me = await send(nginx, 'GET', '/auth/me', {
      headers: { Authorization: `Bearer ${String(tokens.access_token)}` },
    });
    expect(me.status).to.equal(200);
    expect(json(me)).to.deep.equal({ username });
  });

  it('spreads requests over every auth node (no stickiness)', async () => {
    for (let i = 0; i < 6; i++) expect((await send(nginx, 'GET', '/auth/jwks.json')).status).to.equal(200);
    const upstreams = await waitFor(
      () => {
        const seen = new Set(
          nginx
            .accessEntries()
            .filter((e) => e.uri === '/auth/jwks.json')
            .map((e) => e.upstream),
        );
        return seen.size === nodes.length ? seen : undefined;
      },
      { what: 'requests on both auth nodes' },
    );
    expect([...upstreams].sort()).to.deep.equal(nodes.map((n) => `127.0.0.1:${n.port}`).sort());
  });

  it('redirects plain HTTP to HTTPS, path and query kept', async () => {
    const reply = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      httpGet(`${nginx.httpUrl}/auth/me?x=1`, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      }).on('error', reject);
    });
    expect(reply.status).to.equal(301);
    expect(reply.location).to.equal(`https://127.0.0.1:${nginx.httpsPort}/auth/me?x=1`);
  });

  it('redirects to its own name, never to the Host a client sent', async () => {
    const plain = await rawRequest(
      nginx,
      nginx.httpPort,
      'GET /x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
    );
    expect(plain).to.match(/^HTTP\/1\.1 301 /);
    expect(plain).to.include(`\r\nLocation: https://127.0.0.1:${nginx.httpsPort}/x\r\n`);
    expect(plain).not.to.include('evil.example');
    // a plain-HTTP request on the TLS port (nginx's 497)
    const onTls = await rawRequest(
      nginx,
      nginx.httpsPort,
      'GET /y HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
      false,
    );
    expect(onTls).to.match(/^HTTP\/1\.1 301 /);
    expect(onTls).to.include(`\r\nLocation: https://127.0.0.1:${nginx.httpsPort}/y\r\n`);
  });

  it('connects to the nodes from its own address: a client reaching a node directly cannot choose its address', async () => {
    const reply = await fetch(`${(nodes[0] as ServiceProcess).url}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': '203.0.113.9' },
      body: JSON.stringify({ username: `${username}_direct`, password: 'wrong password' }),
    });
    expect(reply.status).to.equal(401);
    const requestId = reply.headers.get('x-request-id');
    const line = await waitFor(
      () =>
        nodes
          .flatMap((n) => n.proc.logLines())
          .find((l) => l.event === 'login_failure' && l.request_id === requestId),
      { what: 'the login_failure audit line' },
    );
    expect(line.address).to.equal('127.0.0.1');
  });

  it('sends one HSTS header on every HTTPS response, proxied, static or error', async () => {
    for (const path of ['/healthz', '/auth/jwks.json', '/auth/nope', '/', '/missing.html', '/ws']) {
      const reply = await send(nginx, 'GET', path);
      const hsts = reply.rawHeaders.filter(
        (_, i) => i % 2 === 0 && reply.rawHeaders[i]?.toLowerCase() === 'strict-transport-security',
      );
      expect(hsts, `${path} (${reply.status})`).to.have.length(1);
      expect(reply.headers['strict-transport-security']).to.equal(HSTS);
    }
  });

  it('accepts TLS 1.2 and 1.3 and refuses TLS 1.1', async () => {
    expect(await tlsHandshake(nginx, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })).to.equal('TLSv1.2');
    expect(await tlsHandshake(nginx, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' })).to.equal('TLSv1.3');
    // SECLEVEL=0 lets this client really offer TLS 1.1, so the refusal is the server's.
    const refused = await tlsHandshake(nginx, {
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT:@SECLEVEL=0',
    }).then(
      () => undefined,
      (err: NodeJS.ErrnoException) => err,
    );
    expect(refused, 'a TLS 1.1 handshake succeeded').to.be.instanceOf(Error);
    expect(refused?.code).to.match(/PROTOCOL_VERSION/);
  });

  it('gives the nodes the real client address and ignores a forged X-Forwarded-For', async () => {
    const reply = await send(nginx, 'POST', '/auth/login', {
      body: { username: `${username}_nobody`, password: 'wrong password' },
      headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Real-IP': '203.0.113.8' },
    });
    expect(reply.status).to.equal(401);
    const requestId = reply.headers['x-request-id'];
    expect(requestId).to.be.a('string');
    const line = await waitFor(
      () =>
        nodes
          .flatMap((n) => n.proc.logLines())
          .find((l) => l.event === 'login_failure' && l.request_id === requestId),
      { what: 'the login_failure audit line' },
    );
    expect(line.address).to.equal('127.0.0.1');
  });

  it('writes no token to its logs or the nodes’ logs, whatever the encoding and whatever fails', async () => {
    const login = await send(nginx, 'POST', '/auth/login', { body: { username, password } });
    const token = String(json(login).access_token);
    const signature = token.split('.')[2] as string;
    expect((await send(nginx, 'GET', `/auth/me?token=${token}`)).status).to.equal(401);
    // The chat upstream is down: every /ws below fails in nginx, which logs such failures
    // with the request line.
    for (const path of [`/ws?token=${token}`, `/ws?%74oken=${token}`, `/%77s?T%4FKEN=${token}`]) {
      const ws = await send(nginx, 'GET', path);
      expect(ws.status, path).to.equal(502);
      expect(json(ws).error).to.equal('unavailable');
    }
    // Over the body limit, with a token in the query, on both upstreams.
    for (const path of [`/ws?token=${token}`, `/auth/login?token=${token}`]) {
      const large = await send(nginx, 'POST', path, { body: { padding: 'x'.repeat(20_000) } });
      expect(large.status, path).to.equal(413);
    }
    expect((await send(nginx, 'GET', `/?token=${token}`)).status).to.equal(200);
    expect((await send(nginx, 'GET', `/missing.html?token=${token}`)).status).to.equal(404);
    // The same failures without a query string are logged, so the log is really being written.
    expect((await send(nginx, 'GET', '/ws')).status).to.equal(502);
    expect(
      (await send(nginx, 'POST', '/auth/login', { body: { padding: 'x'.repeat(20_000) } })).status,
    ).to.equal(413);
    await waitFor(
      () => {
        const uris = nginx.accessEntries().map((e) => e.uri);
        return uris.includes('/_quiet/auth/me') && uris.includes('/_quiet/ws') && uris.includes('/ws');
      },
      { what: 'the access log entries' },
    );
    await waitFor(
      () => nginx.errorLog().includes('connect() failed') && nginx.errorLog().includes('too large body'),
      { what: 'the error log entries' },
    );
    const logs = {
      access: nginx.accessLog(),
      error: nginx.errorLog(),
      nodes: nodes.map((n) => n.proc.text()).join('\n'),
    };
    for (const [name, text] of Object.entries(logs)) {
      expect(text.includes(signature), `${name} log holds the token`).to.equal(false);
      expect(text.toLowerCase().includes('token='), `${name} log holds a query token`).to.equal(false);
      expect(text.includes('%74oken'), `${name} log holds an encoded query token`).to.equal(false);
    }
  });

  it('answers in JSON even a request line it cannot parse, on both ports', async () => {
    for (const port of [nginx.httpsPort, nginx.httpPort]) {
      const reply = await rawRequest(nginx, port, 'GARBAGE\r\n\r\n');
      expect(reply, String(port)).to.match(/^HTTP\/1\.1 400 /);
      expect(reply).to.match(/\r\nContent-Type: application\/json\r\n/i);
      expect(reply.split('\r\n\r\n')[1]).to.equal(
        '{"error":"bad_request","message":"the request is malformed"}',
      );
    }
  });

  it('answers its own errors in JSON', async () => {
    const notAllowed = await send(nginx, 'POST', '/index.html');
    expect(notAllowed.status).to.equal(405);
    expect(notAllowed.headers['content-type']).to.equal('application/json');
    const missing = await send(nginx, 'GET', '/missing.html');
    expect(missing.status).to.equal(404);
    expect(missing.headers['content-type']).to.equal('application/json');
    expect(json(missing).error).to.equal('not_found');
    const large = await send(nginx, 'POST', '/auth/login', {
      body: { username, password: 'x'.repeat(20_000) },
    });
    expect(large.status).to.equal(413);
    expect(json(large).error).to.equal('payload_too_large');
  });

  it('serves the web client under a CSP that forbids inline script', async () => {
    const page = await send(nginx, 'GET', '/');
    expect(page.status).to.equal(200);
    expect(page.headers['content-type']).to.match(/^text\/html/);
    expect(page.headers['content-security-policy']).to.include("script-src 'self'");
    // the built client: one external module script, nothing inline
    expect(page.text).to.match(/<script type="module" src="app\.js"><\/script>/);
    expect(page.text).not.to.match(/<script(?![^>]*\bsrc=)[^>]*>/);
    const script = await send(nginx, 'GET', '/app.js');
    expect(script.status).to.equal(200);
    expect(script.headers['content-type']).to.equal('application/javascript');
  });

  it('limits requests per address with a JSON 429', async () => {
    const strict = await NginxServer.start({
      authPorts: nodes.map((n) => n.port),
      chatPorts: [await freePort()],
      limits: { authPerSecond: 1, authBurst: 1 },
    });
    try {
      const replies = [];
      for (let i = 0; i < 4; i++) replies.push(await send(strict, 'GET', '/auth/jwks.json'));
      const limited = replies.find((r) => r.status === 429);
      expect(limited, replies.map((r) => r.status).join(',')).to.not.equal(undefined);
      expect(json(limited as Reply).error).to.equal('too_many_requests');
      expect(limited?.headers['retry-after']).to.equal('1');
    } finally {
      await strict.destroy();
    }
  });

  it('fails over to the other auth node when one is killed', async () => {
    const [victim, survivor] = nodes as [ServiceProcess, ServiceProcess];
    const jwksEntries = () => nginx.accessEntries().filter((e) => e.uri === '/auth/jwks.json');
    const before = jwksEntries().length;
    await victim.kill();
    for (let i = 0; i < 6; i++) {
      const reply = await send(nginx, 'GET', '/auth/jwks.json');
      expect(reply.status, reply.text).to.equal(200);
    }
    const served = (
      await waitFor(() => (jwksEntries().length >= before + 6 ? jwksEntries() : undefined), {
        what: 'the access log entries',
      })
    )
      .slice(before)
      .map((e) => String(e.upstream));
    // A request that met the dead node first names both upstreams ("dead, survivor").
    for (const upstream of served) expect(upstream.endsWith(`127.0.0.1:${survivor.port}`)).to.equal(true);
  });
});

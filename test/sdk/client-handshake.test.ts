import { once } from 'node:events';
import { expect } from 'chai';
import { ChatClient, ChatError, Connection, systemClock, type TokenMethod } from '@securechat/sdk';
import type { FakeConnection } from './fake-chat-server';
import { Fixture, TokenSource } from './fixture';

describe('sdk client handshake', () => {
  const fx = new Fixture();
  afterEach(() => fx.cleanup());

  it('reads a welcome that came in time before its timer, fired late by a busy process, fails it', async () => {
    const server = await fx.server();
    const client = fx.client({ url: server.url, connectTimeoutMs: 200 });
    // The server has just written the 101 and the welcome; this process stays busy past
    // the client's deadline before it can read them, so its timer is due first.
    server.once('connection', () => {
      const until = Date.now() + 400;
      while (Date.now() < until) {
        // busy, as a loaded process is
      }
    });
    const welcome = await client.connect();
    expect(welcome.node).to.equal('fake-1');
    expect(client.state).to.equal('ready');
  });

  const methods: TokenMethod[] = ['header', 'subprotocol', 'query'];
  for (const method of methods) {
    it(`carries the token by ${method} and gets chat.v1`, async () => {
      const server = await fx.server();
      const tokens = new TokenSource('ann');
      const client = fx.client({ url: server.url, tokenMethod: method, getToken: tokens.getToken });
      const [welcomed, [conn]] = await Promise.all([
        client.connect(),
        once(server, 'connection') as Promise<[FakeConnection]>,
      ]);
      expect(welcomed).to.deep.equal({ type: 'welcome', user: 'ann', node: 'fake-1', session: 's1' });
      const hs = conn.handshake;
      expect(hs.method).to.equal(method);
      expect(hs.token).to.equal(tokens.issued[0]);
      expect(conn.ws.protocol, 'selected subprotocol').to.equal('chat.v1');
      expect(hs.protocols[0]).to.equal('chat.v1');
      if (method === 'header') {
        expect(hs.headers.authorization).to.equal(`Bearer ${tokens.issued[0]}`);
        expect(hs.protocols).to.deep.equal(['chat.v1']);
        expect(hs.url).to.equal('/ws');
      }
      if (method === 'subprotocol') {
        expect(hs.protocols).to.deep.equal(['chat.v1', `bearer.${tokens.issued[0]}`]);
        expect(hs.headers.authorization).to.equal(undefined);
        expect(hs.url).to.equal('/ws');
      }
      if (method === 'query') {
        expect(hs.url).to.equal(`/ws?token=${tokens.issued[0]}`);
        expect(hs.headers.authorization).to.equal(undefined);
        expect(hs.protocols).to.deep.equal(['chat.v1']);
      }
      expect(client.state).to.equal('ready');
      expect(client.welcome?.user).to.equal('ann');
    });
  }

  it('sends the Origin it is given and never offers permessage-deflate', async () => {
    const server = await fx.server();
    const client = fx.client({ url: server.url, origin: 'https://chat.example' });
    const [, [conn]] = await Promise.all([
      client.connect(),
      once(server, 'connection') as Promise<[FakeConnection]>,
    ]);
    expect(conn.handshake.headers.origin).to.equal('https://chat.example');
    expect(conn.handshake.headers['sec-websocket-extensions']).to.equal(undefined);
  });

  it('exposes the selected subprotocol on a bare Connection', async () => {
    const server = await fx.server();
    const tokens = new TokenSource();
    const conn = new Connection(
      {
        url: server.url,
        token: await tokens.getToken(),
        tokenMethod: 'subprotocol',
        origin: undefined,
        ca: undefined,
        rejectUnauthorized: undefined,
        connectTimeoutMs: 5000,
        requestTimeoutMs: 5000,
        clock: systemClock,
      },
      { frame: () => undefined, invalid: () => undefined, closed: () => undefined },
    );
    await conn.opened;
    expect(conn.protocol).to.equal('chat.v1');
    expect(await conn.request({ type: 'ping' })).to.deep.equal({ type: 'pong', ref: '1' });
    conn.close();
    await conn.ended;
  });

  it('rejects a refused handshake with its status and without the token in the message', async () => {
    const server = await fx.server();
    server.refusals.push(401);
    const tokens = new TokenSource();
    const client = fx.client({ url: server.url, tokenMethod: 'query', getToken: tokens.getToken });
    const err = await client.connect().then(
      () => expect.fail('connect should fail'),
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ChatError);
    const chatErr = err as ChatError;
    expect(chatErr.code).to.equal('handshake_refused');
    expect(chatErr.status).to.equal(401);
    expect(chatErr.message).to.include('401').and.include('refused_401');
    expect(chatErr.message).to.not.include(tokens.issued[0]);
    expect(client.state, 'a failed connect() can be retried').to.equal('idle');
    await client.connect();
    expect(client.state).to.equal('ready');
  });

  it('fails to connect to a closed port with connect_failed', async () => {
    const server = await fx.server();
    const url = server.url;
    await server.close();
    const client = fx.client({ url });
    const err = (await client.connect().catch((e: unknown) => e)) as ChatError;
    expect(err.code).to.equal('connect_failed');
    expect(err.message).to.match(/ECONNREFUSED/);
  });

  it('reports a failing getToken as token_unavailable without dialing', async () => {
    const server = await fx.server();
    const client = fx.client({ url: server.url, getToken: () => Promise.reject(new Error('auth down')) });
    const err = (await client.connect().catch((e: unknown) => e)) as ChatError;
    expect(err.code).to.equal('token_unavailable');
    expect(server.handshakes).to.have.length(0);
  });

  it('refuses URLs that are not ws:// or wss://', () => {
    const getToken = () => Promise.resolve('t');
    expect(() => new ChatClient({ url: 'http://127.0.0.1/ws', getToken })).to.throw(TypeError);
    expect(() => new ChatClient({ url: 'nope', getToken })).to.throw(TypeError);
    expect(() => new ChatClient({ url: [], getToken })).to.throw(TypeError);
  });
});

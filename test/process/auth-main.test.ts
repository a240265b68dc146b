import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ManagedProcess } from '@securechat/cluster';
import { Client, fields } from '../support/http';
import { ENTRIES, makeKeys, runScript } from '../support/processes';
import { RedisServer, uniquePrefix } from '../support/redis-server';

describe('npm run start:auth, as a process @redis', function () {
  this.timeout(30_000);
  let redis: RedisServer;
  let keyDir: string;
  let privateKey: string;
  let jwksFile: string;
  const started: ManagedProcess[] = [];

  before(async () => {
    redis = await RedisServer.start();
    keyDir = mkdtempSync(join(tmpdir(), 'securechat-auth-main-'));
    ({ privateKey, jwks: jwksFile } = makeKeys(join(keyDir, 'key')));
  });

  after(async () => {
    for (const p of started) await p.stop('SIGKILL');
    await redis.destroy();
    rmSync(keyDir, { recursive: true, force: true });
  });

  function env(overrides: Record<string, string | undefined> = {}): Record<string, string> {
    const all: Record<string, string | undefined> = {
      PATH: process.env.PATH,
      PORT: '0',
      METRICS_PORT: '0',
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix('p'),
      JWT_PRIVATE_KEY_FILE: privateKey,
      ...overrides,
    };
    return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
  }

  function start(environment: Record<string, string>): ManagedProcess {
    const proc = runScript(ENTRIES.auth, environment);
    started.push(proc);
    return proc;
  }

  it('serves register and login with the key from `npm run keys`, and exits 0 promptly on SIGTERM', async () => {
    const proc = start(env());
    const ready = await proc.waitForLog((l) => l.message === 'auth node listening');
    const client = new Client(`http://127.0.0.1:${String(ready.port)}`);
    const cliKid = (JSON.parse(readFileSync(jwksFile, 'utf8')) as { keys: { kid: string }[] }).keys[0]?.kid;
    expect(ready.kid).to.equal(cliKid);

    const user = { username: 'Process.User', password: 'process-password-1' };
    const created = await client.post('/auth/register', user);
    expect(created.status).to.equal(201);
    expect(created.json).to.deep.equal({ username: 'process.user' });
    const login = await client.post('/auth/login', { ...user, username: 'PROCESS.USER' });
    expect(login.status).to.equal(200);
    const access = String(fields(login).access_token);
    expect((await client.get('/auth/me', { authorization: `Bearer ${access}` })).json).to.deep.equal({
      username: 'process.user',
    });
    const jwks = await client.get('/auth/jwks.json');
    expect((fields(jwks).keys as { kid: string }[]).map((k) => k.kid)).to.deep.equal([cliKid]);
    expect((await client.get('/readyz')).status).to.equal(200);

    // its own log: audit lines on stdout, never the password or the token
    await proc.waitForLog((l) => l.event === 'login_success' && l.username === 'process.user');
    expect(proc.text()).not.to.include(user.password);
    expect(proc.text()).not.to.include(access);

    const stopping = Date.now();
    proc.signal('SIGTERM');
    const exit = await proc.exitWithin(5000);
    expect(exit.code).to.equal(0);
    expect(Date.now() - stopping).to.be.below(3000);
  });

  const refusals: [string, string, Record<string, string | undefined>][] = [
    ['REDIS_URL', 'is missing', { REDIS_URL: undefined }],
    ['REDIS_URL', 'is not a redis URL', { REDIS_URL: 'http://127.0.0.1:6379' }],
    ['JWT_PRIVATE_KEY_FILE', 'is missing', { JWT_PRIVATE_KEY_FILE: undefined }],
    ['JWT_PRIVATE_KEY_FILE', 'names no file', { JWT_PRIVATE_KEY_FILE: '/nonexistent/private.pem' }],
    ['JWT_PRIVATE_KEY_FILE', 'holds no private key', { JWT_PRIVATE_KEY_FILE: '__JWKS__' }],
    ['JWT_PUBLIC_KEYS_FILE', 'names no file', { JWT_PUBLIC_KEYS_FILE: '/nonexistent/jwks.json' }],
    ['BCRYPT_COST', 'is under 10', { BCRYPT_COST: '9' }],
    ['PORT', 'is not a number', { PORT: 'eighty' }],
    ['TRUST_PROXY', 'is not an address', { TRUST_PROXY: 'proxy.example' }],
    ['ACCESS_TOKEN_TTL_S', 'is over the cap', { ACCESS_TOKEN_TTL_S: '86401' }],
  ];
  for (const [variable, what, overrides] of refusals) {
    it(`exits non-zero with a message naming ${variable} when it ${what}`, async () => {
      const fixed = Object.fromEntries(
        Object.entries(overrides).map(([k, v]) => [k, v === '__JWKS__' ? jwksFile : v]),
      );
      const proc = start(env(fixed));
      const exit = await proc.exitWithin(10_000);
      expect(exit.code).to.equal(1);
      expect(proc.text('stderr')).to.include(variable);
      // one line for the operator, not a stack trace
      expect(proc.lines('stderr')).to.have.length(1);
      expect(proc.text('stdout')).not.to.include('listening');
    });
  }
});

describe('npm start (embedded), as a process', function () {
  this.timeout(30_000);
  let proc: ManagedProcess | undefined;
  after(async () => {
    await proc?.stop('SIGKILL');
  });

  it('serves register and login with memory state and no Redis, and exits 0 on SIGTERM', async () => {
    proc = runScript(ENTRIES.embedded, { PATH: process.env.PATH ?? '', PORT: '0', METRICS_PORT: '0' });
    const ready = await proc.waitForLog((l) => l.message === 'embedded node listening');
    const client = new Client(String(ready.url));
    const user = { username: 'embedded_user', password: 'embedded-password-1' };
    expect((await client.post('/auth/register', user)).status).to.equal(201);
    const login = await client.post('/auth/login', user);
    expect(login.status).to.equal(200);
    expect(fields(login).token_type).to.equal('Bearer');
    expect((await client.get('/readyz')).status).to.equal(200);
    proc.signal('SIGTERM');
    expect((await proc.exitWithin(5000)).code).to.equal(0);
  });
});

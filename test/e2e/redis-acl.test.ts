import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { readAclTemplate, REDIS_SETTINGS } from '@securechat/cluster';
import {
  aclRules,
  aclTemplate,
  REDIS_USERNAMES,
  ROLE_COMMANDS,
  ROLE_SCRIPTS,
  luaScript,
  type RedisRole,
} from '@securechat/state';
import { Client, fields } from '../support/http';
import { ENTRIES, makeKeys, ROOT, ServiceProcess, startChatNode } from '../support/processes';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { connect, type TestClient } from '../support/ws-client';

const LUA_DIR = join(ROOT, 'packages', 'state', 'lua');

/**
 * The Redis commands a Lua script calls (lower case), its lib/ includes resolved. A
 * command passed in (`redis.call(ARGV[5], ...)`) is a publish command: `publish`.
 */
function scriptCommands(name: string): string[] {
  const text = luaScript(name).replace(/redis\.call\(ARGV\[\d+\]/g, "redis.call('PUBLISH'");
  return [...text.matchAll(/redis\.call\(\s*'([A-Za-z]+)'(?:\s*,\s*'([A-Za-z]+)')?/g)].map(
    ([, command, sub]) => {
      const lower = (command as string).toLowerCase();
      return lower === 'xinfo' && sub !== undefined ? `${lower}|${sub.toLowerCase()}` : lower;
    },
  );
}

describe('Redis ACL users per role: the rules', () => {
  it('assigns every Lua script to the node role that runs it', () => {
    const scripts = readdirSync(LUA_DIR)
      .filter((f) => f.endsWith('.lua'))
      .map((f) => f.slice(0, -4))
      .sort();
    // A new script must be given to its role, or its calls are refused in production.
    expect([...ROLE_SCRIPTS.auth, ...ROLE_SCRIPTS.chat].sort()).to.deep.equal(scripts);
  });

  for (const role of ['auth', 'chat'] as const) {
    it(`grants the ${role} role every command its scripts call, PUBLISH only in its selector`, () => {
      const granted = new Set(ROLE_COMMANDS[role]);
      const rules = aclRules(role, 'chat:');
      for (const script of ROLE_SCRIPTS[role]) {
        for (const command of scriptCommands(script)) {
          if (command === 'publish' || command === 'spublish') {
            expect(
              rules.some((r) => r.startsWith('(+publish +spublish ')),
              `${script}: ${command}`,
            ).to.equal(true);
          } else {
            expect(granted.has(command), `${script}: ${command}`).to.equal(true);
          }
        }
      }
      expect(rules).not.to.include('+publish');
      expect(rules).not.to.include('+spublish');
      expect(rules.filter((r) => r.startsWith('~') || r.startsWith('%'))).to.not.include('~*');
    });
  }

  it('ships the rules as deploy/redis/users.acl.template (npm run redis-acl -- --template)', () => {
    expect(readAclTemplate(ROOT)).to.equal(aclTemplate());
  });

  it('refuses a prefix that is not a REDIS_PREFIX', () => {
    expect(() => aclRules('chat', 'chat *')).to.throw('REDIS_PREFIX');
  });
});

interface CtlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function chatctl(args: string[], env: Record<string, string>): Promise<CtlRun> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(ROOT, 'services/chat/dist/chatctl.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A plain client logged in as a role's user (a failed command fails its test). */
function clientAs(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableReadyCheck: false, lazyConnect: true });
  redis.on('error', () => undefined);
  return redis;
}

async function refusedWith(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  throw new Error('the command was allowed');
}

describe('Redis ACL users per role: real nodes against a redis-server with the ACL file @redis', function () {
  this.timeout(60_000);
  const prefix = uniquePrefix('acl');
  const password = 'correct horse battery';
  let redis: RedisServer;
  let keysDir: string;
  let auth: ServiceProcess;
  let chat: ServiceProcess;
  let api: Client;
  const sockets: TestClient[] = [];
  const clients: Redis[] = [];

  const as = async (role: RedisRole | 'default'): Promise<Redis> => {
    const url = role === 'default' ? `redis://127.0.0.1:${redis.port}` : redis.credentials(role).url;
    const client = clientAs(url);
    clients.push(client);
    await client.connect();
    return client;
  };

  const nodeEnv = (role: 'auth' | 'chat', extra: Record<string, string> = {}) => ({
    REDIS_URL: `redis://127.0.0.1:${redis.port}`,
    REDIS_USERNAME: redis.credentials(role).username,
    REDIS_PASSWORD_FILE: redis.credentials(role).passwordFile,
    REDIS_PREFIX: prefix,
    CONFIGURE_KEYSPACE_EVENTS: 'false',
    JWT_PUBLIC_KEYS_FILE: join(keysDir, 'jwks.json'),
    LOG_LEVEL: 'debug',
    ...extra,
  });

  async function tokenOf(username: string): Promise<string> {
    expect((await api.post('/auth/register', { username, password })).status).to.equal(201);
    const login = await api.post('/auth/login', { username, password });
    expect(login.status, login.text).to.equal(200);
    return String(fields(login).access_token);
  }

  before(async () => {
    const flags = REDIS_SETTINGS.find(([name]) => name === 'notify-keyspace-events')?.[1] as string;
    redis = await RedisServer.start({ acl: { prefix }, args: ['--notify-keyspace-events', flags] });
    keysDir = mkdtempSync(join(tmpdir(), 'securechat-acl-keys-'));
    makeKeys(keysDir);
    auth = await ServiceProcess.start(ENTRIES.auth, {
      name: 'auth',
      env: nodeEnv('auth', { JWT_PRIVATE_KEY_FILE: join(keysDir, 'private.pem') }),
    });
    chat = await startChatNode(
      nodeEnv('chat', {
        ALLOW_MISSING_ORIGIN: 'true',
        RATE_LIMIT_MAX: '2',
        BLOCK_AFTER_VIOLATIONS: '2',
      }),
    );
    api = new Client(`http://127.0.0.1:${auth.port}`);
  });

  after(async () => {
    for (const socket of sockets) socket.ws.terminate();
    for (const client of clients) client.disconnect();
    await Promise.all([auth?.stop(), chat?.stop()]);
    await redis?.destroy();
    if (keysDir) rmSync(keysDir, { recursive: true, force: true });
  });

  it('connects each node as its role’s user', async () => {
    const admin = await as('operator');
    const names = String(await admin.call('CLIENT', 'LIST'))
      .split('\n')
      .map((line) => /\bname=(\S*) .*\buser=(\S+)/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]);
    expect(names.filter(([, user]) => user === REDIS_USERNAMES.auth).length).to.be.at.least(1);
    expect(names.filter(([, user]) => user === REDIS_USERNAMES.chat).length).to.be.at.least(2);
    expect(names.filter(([, user]) => user === 'default')).to.deep.equal([]);
  });

  it('auth and chat nodes do their whole job: accounts, tokens, rooms, history, replay, DMs, limits, blocks, revocations', async () => {
    const ann = await tokenOf('ann');
    const bob = await tokenOf('bob');
    const a = await connect(chat.wsUrl, { token: ann, origin: null });
    const b = await connect(chat.wsUrl, { token: bob, origin: null, method: 'subprotocol' });
    sockets.push(a, b);
    expect((await a.join('lobby')).members).to.deep.equal(['ann']);
    expect((await b.join('lobby')).members).to.deep.equal(['ann', 'bob']);
    const sent = await a.request({ type: 'send', room: 'lobby', text: 'hello' });
    expect(sent.type).to.equal('ack');
    await b.next((f) => f.type === 'message' && f.id === sent.id);
    const history = await b.request({ type: 'history', room: 'lobby' });
    expect((history.messages as unknown[]).length).to.equal(1);
    await a.join('dm:ann:bob');
    const dm = await b.request({ type: 'dm', to: 'ann', text: 'psst' });
    expect(dm.type).to.equal('ack');
    await a.next((f) => f.type === 'message' && f.id === dm.id);
    const replayed = await connect(chat.wsUrl, { token: bob, origin: null });
    sockets.push(replayed);
    await replayed.join('lobby', '0-0');
    await replayed.next((f) => f.type === 'message' && f.id === sent.id);

    // A refresh and a logout on the auth node; the revocation reaches the chat node.
    const login = fields(await api.post('/auth/login', { username: 'bob', password }));
    const refreshed = await api.post('/auth/refresh', { refresh_token: login.refresh_token });
    expect(refreshed.status, refreshed.text).to.equal(200);
    const access = String(fields(refreshed).access_token);
    const live = await connect(chat.wsUrl, { token: access, origin: null });
    sockets.push(live);
    expect(
      (await api.send('POST', '/auth/logout', { headers: { authorization: `Bearer ${access}` } })).status,
    ).to.equal(204);
    expect(await live.waitClose(5000)).to.deep.equal({ code: 1008, reason: 'token_revoked' });

    // Over the message rate: the chat node refuses, then blocks (SET blocked:, control).
    const codes: string[] = [];
    for (let i = 0; i < 6 && codes.at(-1) !== 'closed'; i++) {
      const reply = await a
        .request({ type: 'send', room: 'lobby', text: `spam ${i}` })
        .catch(() => undefined);
      codes.push(reply === undefined ? 'closed' : String(reply.code ?? reply.type));
    }
    expect(codes).to.include('rate_limited');
    expect(await a.waitClose(5000)).to.deep.equal({ code: 1008, reason: 'blocked' });
    expect(chat.proc.text()).not.to.match(/NOPERM|no permissions/i);
    expect(auth.proc.text()).not.to.match(/NOPERM|no permissions/i);
  });

  it('chatctl works as the operator, reads only as the read-only operator', async () => {
    const carl = await tokenOf('carl');
    const socket = await connect(chat.wsUrl, { token: carl, origin: null });
    sockets.push(socket);
    const env = (role: RedisRole) => ({
      REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      REDIS_USERNAME: redis.credentials(role).username,
      REDIS_PASSWORD_FILE: redis.credentials(role).passwordFile,
      REDIS_PREFIX: prefix,
    });
    const refused = await chatctl(['block', 'carl', '1h'], env('operator-ro'));
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.match(/NOPERM|no permissions/);
    const status = await chatctl(['status', 'carl'], env('operator-ro'));
    expect(status.code, status.stderr).to.equal(0);
    expect(status.stdout).to.include('carl: not blocked');
    const blocked = await chatctl(['block', 'carl', '1h'], env('operator'));
    expect(blocked.code, blocked.stderr).to.equal(0);
    expect(await socket.waitClose(5000)).to.deep.equal({ code: 1008, reason: 'blocked' });
    expect((await chatctl(['unblock', 'carl'], env('operator'))).code).to.equal(0);
  });

  it('refuses forged publishes on room, control and keyspace-event channels to every role without that right', async () => {
    const room = `${prefix}room:lobby:ch`;
    const control = `${prefix}control`;
    const keyEvent = '__keyevent@0__:set';
    const forged = (client: Redis, channel: string, message: string) =>
      refusedWith(client.publish(channel, message));
    const authUser = await as('auth');
    const chatUser = await as('chat');
    const operator = await as('operator');
    const readOnly = await as('operator-ro');
    const anonymous = await as('default');
    const frame = '9999999999999-0\n{"type":"message","room":"lobby","from":"admin","text":"forged"}';
    for (const [who, client, channel, message] of [
      ['auth', authUser, room, frame],
      ['auth', authUser, keyEvent, `${prefix}blocked:ann`],
      ['chat', chatUser, keyEvent, `${prefix}blocked:ann`],
      ['chat', chatUser, '__keyevent@0__:del', `${prefix}blocked:ann`],
      ['operator', operator, room, frame],
      ['operator', operator, keyEvent, `${prefix}blocked:ann`],
      ['operator-ro', readOnly, room, frame],
      ['operator-ro', readOnly, control, 'blocked ann'],
      ['default', anonymous, room, frame],
      ['default', anonymous, control, 'blocked ann'],
    ] as const) {
      expect(await forged(client, channel, message), `${who} -> ${channel}`).to.match(/NOPERM|NOAUTH/);
    }
    // Each role's own channels (the proof that the refusals above are about the channel).
    expect(await authUser.publish(control, 'revoked jti-acl-00000001')).to.be.a('number');
    expect(await chatUser.publish(room, '-\n{"type":"presence"}')).to.be.a('number');
    expect(await operator.publish(control, 'unblocked nobody')).to.be.a('number');
  });

  it('confines each role to its keys and commands', async () => {
    const authUser = await as('auth');
    const chatUser = await as('chat');
    const operator = await as('operator');
    const readOnly = await as('operator-ro');
    const refusals: [string, () => Promise<unknown>][] = [
      // no history forged by an auth node, no account made or changed by a chat node
      [
        'auth XADD room log',
        () => authUser.xadd(`${prefix}room:lobby:log`, '*', 'from', 'admin', 'text', 'x'),
      ],
      ['chat HSET user', () => chatUser.hset(`${prefix}user:mallory`, 'password_hash', 'x')],
      ['chat SET revoked', () => chatUser.set(`${prefix}revoked:jti-x0000001`, 'x')],
      ['auth SET blocked', () => authUser.set(`${prefix}blocked:ann`, 'x')],
      ['chat GET outside the prefix', () => chatUser.get('other:key')],
      ['chat CONFIG SET', () => chatUser.config('SET', 'notify-keyspace-events', '')],
      ['chat KEYS', () => chatUser.keys(`${prefix}*`)],
      ['operator FLUSHALL', () => operator.flushall()],
      ['operator CONFIG SET', () => operator.config('SET', 'maxmemory-policy', 'allkeys-lru')],
      ['operator ACL', () => operator.call('ACL', 'LIST')],
      ['operator outside the prefix', () => operator.set('other:key', 'x')],
      ['read-only SET', () => readOnly.set(`${prefix}blocked:ann`, 'x')],
      ['read-only DEL', () => readOnly.del(`${prefix}user:ann`)],
    ];
    for (const [what, call] of refusals) expect(await refusedWith(call()), what).to.match(/NOPERM/);
    expect(await readOnly.hget(`${prefix}user:ann`, 'username')).to.equal('ann');
    expect(await operator.get(`${prefix}blocked:nobody`)).to.equal(null);
  });
});

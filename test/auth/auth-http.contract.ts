import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '@securechat/common';
import { authLimits, StateUnavailableError, type AuthLimits, type AuthState } from '@securechat/state';
import { parseJwks, TokenVerifier } from '@securechat/tokens';
import { startAuthNode, type TestAuthNode } from '../support/auth-node';
import { expectError, fields, type Reply } from '../support/http';
import { decodePart, forgeries, goodClaims, signEs256 } from '../support/jwt';

/** A fresh, empty state with these login limits (the suite closes it). */
export type MakeState = (limits: AuthLimits) => Promise<AuthState>;

interface User {
  username: string;
  password: string;
}

interface Session {
  access: string;
  refresh: string;
}

const DEFAULT_LIMITS: AuthLimits = authLimits(loadConfig({}, 'embedded'));
const TOKEN_PAIR_FIELDS = ['access_token', 'expires_in', 'refresh_expires_in', 'refresh_token', 'token_type'];

/**
 * Every row of the contract's HTTP API, through a real auth node (createAuthNode on an
 * HTTP server on port 0), run once per state backend.
 */
export function authHttpSuite(name: string, makeState: MakeState): void {
  describe(`auth HTTP API: ${name}`, function () {
    this.timeout(30_000);

    /** TRUST_PROXY=127.0.0.1: X-Forwarded-For stands for the client address. */
    let main: TestAuthNode;
    let mainState: AuthState;
    const nodes: TestAuthNode[] = [];
    const states: AuthState[] = [];
    /** Every password and token the tests used: none may ever reach a log. */
    const secrets = new Set<string>();
    let alice: User;

    let seq = 0;
    const unique = (prefix: string) => `${prefix}${++seq}x${randomBytes(3).toString('hex')}`;
    let addressSeq = 0;
    const nextAddress = () => {
      addressSeq += 1;
      return `10.${(addressSeq >> 16) & 255}.${(addressSeq >> 8) & 255}.${addressSeq & 255}`;
    };
    const from = (address: string) => ({ 'x-forwarded-for': address });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    function newUser(prefix = 'u'): User {
      const user = { username: unique(prefix), password: `pw-${randomBytes(12).toString('hex')}` };
      secrets.add(user.password);
      return user;
    }

    async function state(limits = DEFAULT_LIMITS): Promise<AuthState> {
      const made = await makeState(limits);
      states.push(made);
      return made;
    }

    async function node(options: { state: AuthState; env?: Record<string, string> }): Promise<TestAuthNode> {
      const started = await startAuthNode(options);
      nodes.push(started);
      return started;
    }

    async function register(at: TestAuthNode, user: User): Promise<Reply> {
      return at.client.post('/auth/register', user, from(nextAddress()));
    }

    async function registered(at = main, prefix = 'u'): Promise<User> {
      const user = newUser(prefix);
      const reply = await register(at, user);
      expect(reply.status, reply.text).to.equal(201);
      return user;
    }

    function remember(reply: Reply): Reply {
      if (reply.status === 200) {
        const body = fields(reply);
        secrets.add(String(body.access_token));
        secrets.add(String(body.refresh_token));
      }
      return reply;
    }

    async function login(at: TestAuthNode, user: User, address = nextAddress()): Promise<Reply> {
      // a wrong password is often a near miss of the right one: it must not be logged either
      secrets.add(user.password);
      return remember(await at.client.post('/auth/login', user, from(address)));
    }

    async function refresh(at: TestAuthNode, token: string, address = nextAddress()): Promise<Reply> {
      return remember(await at.client.post('/auth/refresh', { refresh_token: token }, from(address)));
    }

    function session(reply: Reply): Session {
      expect(reply.status, reply.text).to.equal(200);
      const body = fields(reply);
      return { access: String(body.access_token), refresh: String(body.refresh_token) };
    }

    async function loggedIn(user = alice, at = main): Promise<Session> {
      return session(await login(at, user));
    }

    const me = (at: TestAuthNode, token: string) => at.client.get('/auth/me', bearer(token));

    function auditOf(at: TestAuthNode, event: string): Record<string, unknown>[] {
      return at.logs.lines().filter((l) => l.audit === true && l.event === event);
    }

    before(async () => {
      mainState = await state();
      main = await node({ state: mainState, env: { TRUST_PROXY: '127.0.0.1' } });
      alice = await registered(main, 'alice');
    });

    after(async () => {
      for (const n of nodes) await n.close();
      for (const s of states) await s.close();
    });

    afterEach(() => {
      for (const n of nodes) {
        const text = n.logs.text();
        for (const secret of secrets)
          expect(text.includes(secret), 'a secret reached the log').to.equal(false);
      }
    });

    describe('POST /auth/register', () => {
      it('201 {username}; names are case-insensitive and stored lower-case; 409 username_taken', async () => {
        const user = { username: unique('Mixed.Case-'), password: `pw-${randomBytes(8).toString('hex')}` };
        secrets.add(user.password);
        const created = await register(main, user);
        expect(created.status).to.equal(201);
        expect(created.json).to.deep.equal({ username: user.username.toLowerCase() });
        expectError(
          await register(main, { ...user, username: user.username.toUpperCase() }),
          409,
          'username_taken',
        );
        expectError(await register(main, { ...user, password: 'another-password' }), 409, 'username_taken');
        const reply = await login(main, { ...user, username: user.username.toUpperCase() });
        expect(reply.status).to.equal(200);
        expect(decodePart(session(reply).access, 1).sub).to.equal(user.username.toLowerCase());
      });

      it('400 invalid_username for anything but 3-32 of [A-Za-z0-9_.-], before any hashing', async () => {
        const mark = main.trace.length;
        for (const username of [
          'ab',
          'x'.repeat(33),
          'has space',
          'émile',
          'semi;colon',
          'a/b',
          '',
          42,
          null,
        ]) {
          expectError(
            await register(main, { username, password: 'long-enough-1' } as never),
            400,
            'invalid_username',
          );
        }
        // a missing field is a wrong shape rather than a bad name
        expectError(
          await main.client.post('/auth/register', { password: 'long-enough-1' }),
          400,
          'invalid_request',
        );
        expect(main.since(mark)).to.deep.equal([]);
        expectError(
          await register(main, { username: 'x'.repeat(32), password: 'long' } as never),
          400,
          'invalid_password',
        );
      });

      it('400 invalid_password under 8 characters or over 72 UTF-8 bytes, before any hashing', async () => {
        const mark = main.trace.length;
        const refused = [
          '1234567',
          '😀'.repeat(7), // 14 UTF-16 units but 7 characters
          'é'.repeat(4), // 8 bytes but 4 characters
          'a'.repeat(73),
          'é'.repeat(37), // 74 bytes
          `${'a'.repeat(71)}é`, // 73 bytes
          12345678,
          null,
        ];
        for (const password of refused) {
          expectError(
            await register(main, { username: unique('p'), password } as never),
            400,
            'invalid_password',
          );
        }
        expectError(
          await main.client.post('/auth/register', { username: unique('p') }),
          400,
          'invalid_request',
        );
        expect(main.since(mark)).to.deep.equal([]);
      });

      it('refuses a taken name before any hashing: a 409 costs no bcrypt', async () => {
        const user = await registered(main, 'taken');
        let mark = main.trace.length;
        expectError(await register(main, { ...user, password: 'another-password' }), 409, 'username_taken');
        expect(main.since(mark)).to.deep.equal(['register.attempt', 'users.get']);
        mark = main.trace.length;
        expect((await register(main, newUser('fresh'))).status).to.equal(201);
        expect(main.since(mark)).to.deep.equal([
          'register.attempt',
          'users.get',
          'bcrypt.hash',
          'users.create',
        ]);
      });

      it('429 too_many_attempts past the per-address limit, before the name is looked up: a taken and a free name get the same answer', async () => {
        const limited = await node({
          state: await state({ ...DEFAULT_LIMITS, registerMaxPerAddressPerHour: 2 }),
          env: { TRUST_PROXY: '127.0.0.1' },
        });
        const address = nextAddress();
        const taken = newUser('lim');
        for (const user of [taken, newUser('lim')]) {
          expect((await limited.client.post('/auth/register', user, from(address))).status).to.equal(201);
        }
        const mark = limited.trace.length;
        const again = { ...taken, password: 'other-password' };
        const forTaken = await limited.client.post('/auth/register', again, from(address));
        const forFree = await limited.client.post('/auth/register', newUser('lim'), from(address));
        for (const reply of [forTaken, forFree]) {
          expectError(reply, 429, 'too_many_attempts');
          expect(Number(reply.headers.get('retry-after'))).to.be.within(1, 3600);
        }
        expect(forTaken.text).to.equal(forFree.text);
        expect([...forTaken.headers.keys()]).to.deep.equal([...forFree.headers.keys()]);
        // neither name was looked up, nothing was hashed
        expect(limited.since(mark)).to.deep.equal(['register.attempt', 'register.attempt']);
        expect(
          (await limited.client.post('/auth/register', newUser('lim'), from(nextAddress()))).status,
        ).to.equal(201);
        const lines = auditOf(limited, 'register_rate_limited');
        expect(lines).to.have.length(2);
        expect(lines[0]).to.include({ address, limit: 'register_hourly' });
      });

      it('counts registrations per IPv6 /64 and per day', async () => {
        const limited = await node({
          state: await state({ ...DEFAULT_LIMITS, registerMaxPerAddressPerDay: 2 }),
          env: { TRUST_PROXY: '127.0.0.1' },
        });
        const net = `2001:db8:${(++seq).toString(16)}:1`;
        for (const address of [`${net}::1`, `${net}:abcd::2`]) {
          expect((await limited.client.post('/auth/register', newUser('v6'), from(address))).status).to.equal(
            201,
          );
        }
        const refused = await limited.client.post(
          '/auth/register',
          newUser('v6'),
          from(`${net}:ffff:ffff:ffff:1`),
        );
        expectError(refused, 429, 'too_many_attempts');
        expect(Number(refused.headers.get('retry-after'))).to.be.above(3600);
        // the next /64 is another network
        const next = `2001:db8:${seq.toString(16)}:2::1`;
        expect((await limited.client.post('/auth/register', newUser('v6'), from(next))).status).to.equal(201);
      });

      it('accepts exactly 72 bytes and never truncates: byte 73 makes the login fail', async () => {
        for (const password of ['a'.repeat(72), 'é'.repeat(36)]) {
          const user = { username: unique('cap'), password };
          expect((await register(main, user)).status).to.equal(201);
          expect((await login(main, user)).status).to.equal(200);
          // bcrypt alone would accept this: it ignores everything past byte 72
          expectError(await login(main, { ...user, password: `${password}X` }), 401, 'invalid_credentials');
        }
      });
    });

    describe('POST /auth/login', () => {
      it('200 {access_token, token_type: Bearer, expires_in, refresh_token, refresh_expires_in}', async () => {
        const reply = await login(main, { ...alice, username: alice.username.toUpperCase() });
        expect(reply.status).to.equal(200);
        const body = fields(reply);
        expect(Object.keys(body).sort()).to.deep.equal(TOKEN_PAIR_FIELDS);
        expect(body).to.include({ token_type: 'Bearer', expires_in: 900, refresh_expires_in: 604800 });
        expect(reply.headers.get('cache-control')).to.equal('no-store');
        const access = String(body.access_token);
        expect(decodePart(access, 0)).to.deep.equal({ alg: 'ES256', typ: 'JWT', kid: main.signingKey.kid });
        const claims = decodePart(access, 1);
        expect(claims).to.include({
          sub: alice.username,
          typ: 'access',
          iss: 'securechat',
          aud: 'securechat',
        });
        expect(claims.jti).to.be.a('string');
        expect(Number(claims.exp) - Number(claims.iat)).to.equal(900);
        expect(Math.abs(Number(claims.iat) - Date.now() / 1000)).to.be.below(10);
        // the refresh token is opaque, not a JWT
        expect(String(body.refresh_token)).to.match(/^[A-Za-z0-9_-]{40,}$/);
        expect(String(body.refresh_token)).not.to.include('.');
      });

      it('401 invalid_credentials: same status, body and headers for an unknown user and a wrong password', async () => {
        const address = nextAddress();
        const wrong = await login(main, { ...alice, password: 'not-the-password' }, address);
        const unknown = await login(
          main,
          { username: unique('ghost'), password: 'not-the-password' },
          address,
        );
        const invalid = await login(
          main,
          { username: 'no such user!', password: 'not-the-password' },
          address,
        );
        expectError(wrong, 401, 'invalid_credentials');
        for (const other of [unknown, invalid]) {
          expect(other.status).to.equal(wrong.status);
          expect(other.text).to.equal(wrong.text);
          const names = (r: Reply) =>
            [...r.headers.keys()].filter((h) => !['date', 'x-request-id', 'content-length'].includes(h));
          expect(names(other)).to.deep.equal(names(wrong));
        }
      });

      it('runs the limiter first and then exactly one bcrypt compare, for a known and an unknown user', async () => {
        const address = nextAddress();
        for (const username of [alice.username, unique('ghost'), 'bad name!']) {
          const mark = main.trace.length;
          expectError(
            await login(main, { username, password: 'not-the-password' }, address),
            401,
            'invalid_credentials',
          );
          // a name that cannot exist is never looked up
          const lookup = username === 'bad name!' ? [] : ['users.get'];
          expect(main.since(mark), username).to.deep.equal(['limiter.attempt', ...lookup, 'bcrypt.compare']);
        }
        const mark = main.trace.length;
        expect((await login(main, alice, address)).status).to.equal(200);
        expect(main.since(mark)).to.deep.equal([
          'limiter.attempt',
          'users.get',
          'bcrypt.compare',
          'limiter.success',
        ]);
      });

      it('takes about as long for an unknown user as for a wrong password (loose timing check)', async () => {
        const victim = await registered(main, 'timing');
        const address = nextAddress();
        const timed = async (username: string): Promise<number> => {
          const started = process.hrtime.bigint();
          expectError(
            await login(main, { username, password: 'not-the-password' }, address),
            401,
            'invalid_credentials',
          );
          return Number(process.hrtime.bigint() - started) / 1e6;
        };
        const unknown: number[] = [];
        const wrong: number[] = [];
        for (let i = 0; i < 6; i++) {
          unknown.push(await timed(unique('ghost')));
          wrong.push(await timed(victim.username));
        }
        // Both run one bcrypt compare at the same cost; only gross differences fail. The
        // fastest of each is compared: other load on the machine only ever adds time, and
        // it hit the medians of four samples in a run beside a benchmark.
        expect(Math.min(...unknown) / Math.min(...wrong)).to.be.within(1 / 3, 3);
      });

      it('400 invalid_request for wrong shapes or types, before any bcrypt', async () => {
        const mark = main.trace.length;
        for (const body of [
          { username: 1, password: 'not-the-password' },
          { username: alice.username, password: null },
          { username: alice.username },
          { username: [alice.username], password: 'x' },
          { username: alice.username, password: 'x', extra: true },
          [],
        ]) {
          expectError(await main.client.post('/auth/login', body), 400, 'invalid_request');
        }
        expect(main.since(mark)).to.deep.equal([]);
      });

      it('403 blocked with the right password only; refresh of a blocked user is refused too', async () => {
        const user = await registered(main, 'blk');
        const before = await loggedIn(user);
        await mainState.blocklist.block(user.username, 'test', 60);
        expectError(await login(main, user), 403, 'blocked');
        // a guesser learns nothing about the block
        expectError(await login(main, { ...user, password: 'not-the-password' }), 401, 'invalid_credentials');
        expectError(await refresh(main, before.refresh), 403, 'blocked');
        await mainState.blocklist.unblock(user.username);
        expect((await login(main, user)).status).to.equal(200);
        // the refused refresh revoked that session's family
        expectError(await refresh(main, before.refresh), 401, 'invalid_grant');
      });
    });

    describe('brute force', () => {
      it('429 too_many_attempts with Retry-After after 10 failures per username+address, checked before bcrypt', async () => {
        const victim = await registered(main, 'bf');
        const attacker = nextAddress();
        for (let i = 0; i < 10; i++) {
          const reply = await login(main, { ...victim, password: `guess-${i}-pw` }, attacker);
          expectError(reply, 401, 'invalid_credentials');
        }
        const mark = main.trace.length;
        const locked = await login(main, { ...victim, password: 'guess-10-pw' }, attacker);
        expectError(locked, 429, 'too_many_attempts');
        const retryAfter = locked.headers.get('retry-after') ?? '';
        expect(retryAfter).to.match(/^\d+$/);
        expect(Number(retryAfter)).to.be.within(1, 900);
        // the right password is refused from that address too, and no bcrypt ran
        expectError(await login(main, victim, attacker), 429, 'too_many_attempts');
        expect(main.since(mark)).to.deep.equal(['limiter.attempt', 'limiter.attempt']);
        // the account still works from another address
        expect((await login(main, victim, nextAddress())).status).to.equal(200);
        const limited = auditOf(main, 'login_rate_limited').filter((l) => l.username === victim.username);
        expect(limited).to.have.length(2);
        expect(limited[0]).to.include({ address: attacker, retry_after_s: Number(retryAfter) });
      });

      it('a parallel burst of guesses gets exactly the limit, not one guess per request', async () => {
        const username = unique('burst');
        const address = nextAddress();
        const mark = main.trace.length;
        const replies = await Promise.all(
          Array.from({ length: 14 }, (_, i) => login(main, { username, password: `burst-${i}-pw` }, address)),
        );
        const statuses = replies.map((r) => r.status).sort();
        expect(statuses.filter((s) => s === 401)).to.have.length(10);
        expect(statuses.filter((s) => s === 429)).to.have.length(4);
        expect(main.since(mark).filter((t) => t === 'bcrypt.compare')).to.have.length(10);
      });

      it('counts per IPv6 /64: rotating addresses inside one /64 does not escape the lock-out', async () => {
        const victim = await registered(main, 'vsix');
        const net = `2001:db8:${(++seq).toString(16)}:7`;
        for (let i = 1; i <= 10; i++) {
          const reply = await login(
            main,
            { ...victim, password: `guess-${i}-pw` },
            `${net}:${i.toString(16)}::1`,
          );
          expectError(reply, 401, 'invalid_credentials');
        }
        expectError(await login(main, victim, `${net}:ffff:ffff:ffff:ffff`), 429, 'too_many_attempts');
        // the next /64 is another network
        expect((await login(main, victim, `2001:db8:${seq.toString(16)}:8::1`)).status).to.equal(200);
      });

      it('throttles password spraying on one account from many addresses, without locking the owner out', async () => {
        const owner = await registered(main, 'spray');
        const home = nextAddress();
        expect((await login(main, owner, home)).status).to.equal(200);
        const free = DEFAULT_LIMITS.accountFreeFailures;
        const mark = main.trace.length;
        const statuses: number[] = [];
        let elsewhere: Reply | undefined;
        // The attack of issue 10: 40 addresses, 9 guesses each (under every per-address limit).
        for (let a = 0; a < 40; a++) {
          const address = nextAddress();
          for (let g = 0; g < 9; g++) {
            const reply = await login(main, { ...owner, password: `spray-${a}-${g}-pw` }, address);
            statuses.push(reply.status);
            if (elsewhere === undefined && statuses.filter((s) => s === 401).length === free + 1) {
              // Right after a guess past the free ones the account's 1-s delay runs: from a
              // network it does not know, the owner waits like anyone else.
              elsewhere = await login(main, owner, nextAddress());
            }
          }
        }
        const failures = statuses.filter((s) => s === 401).length;
        expect(failures + statuses.filter((s) => s === 429).length).to.equal(360);
        // The free guesses, then one per growing delay (1 s, 2 s, 4 s, ...): a handful
        // while the loop runs, not 360.
        expect(failures).to.be.within(free + 1, free + 8);
        // every 429 was answered without a bcrypt comparison
        expect(main.since(mark).filter((t) => t === 'bcrypt.compare')).to.have.length(failures);
        expectError(elsewhere as Reply, 429, 'too_many_attempts');
        expect(Number(elsewhere?.headers.get('retry-after'))).to.equal(1);
        // From where they logged in before, the owner is not throttled at all.
        expect((await login(main, owner, home)).status).to.equal(200);
        const limited = auditOf(main, 'login_rate_limited').filter((l) => l.username === owner.username);
        expect(limited.filter((l) => l.limit === 'account')).to.have.length(360 - failures + 1);
      });

      it('with TRUST_PROXY unset, a rotating spoofed X-Forwarded-For does not escape the lock-out', async () => {
        const direct = await node({ state: mainState });
        const victim = await registered(main, 'spoof');
        for (let i = 0; i < 10; i++) {
          const reply = await login(direct, { ...victim, password: `guess-${i}-pw` }, nextAddress());
          expectError(reply, 401, 'invalid_credentials');
        }
        expectError(await login(direct, victim, nextAddress()), 429, 'too_many_attempts');
        const failures = auditOf(direct, 'login_failure').filter((l) => l.username === victim.username);
        expect(failures).to.have.length(10);
        expect(new Set(failures.map((l) => l.address))).to.deep.equal(new Set(['127.0.0.1']));
      });

      it('limits failures per address per day, across usernames; other addresses are unaffected', async () => {
        const daily = await node({
          state: await state({ ...DEFAULT_LIMITS, maxFailuresPerAddressPerDay: 3 }),
          env: { TRUST_PROXY: '127.0.0.1' },
        });
        const user = await registered(daily, 'day');
        const address = nextAddress();
        for (let i = 0; i < 3; i++) {
          const reply = await login(
            daily,
            { username: unique('spray'), password: 'sprayed-password' },
            address,
          );
          expectError(reply, 401, 'invalid_credentials');
        }
        const locked = await login(daily, user, address);
        expectError(locked, 429, 'too_many_attempts');
        expect(Number(locked.headers.get('retry-after'))).to.be.above(3600);
        expect((await login(daily, user, nextAddress())).status).to.equal(200);
      });

      it('a limiter store failure follows LOGIN_LIMITER_ON_REDIS_ERROR: 503 by default, allowed with fail-open', async () => {
        const base = await state();
        const failing: AuthState = {
          ...base,
          loginLimiter: {
            attempt: () => Promise.reject(new StateUnavailableError(new Error('limiter down'))),
            recordSuccess: () => Promise.reject(new StateUnavailableError(new Error('limiter down'))),
          },
        };
        const closed = await node({ state: failing });
        const open = await node({ state: failing, env: { LOGIN_LIMITER_ON_REDIS_ERROR: 'fail-open' } });
        const user = await registered(closed, 'lim');
        const mark = closed.trace.length;
        const refused = await login(closed, user);
        expectError(refused, 503, 'unavailable');
        expect(refused.headers.get('retry-after')).to.equal('1');
        expect(closed.since(mark)).to.deep.equal(['limiter.attempt']);
        expect((await login(open, user)).status).to.equal(200);
        expectError(await login(open, { ...user, password: 'not-the-password' }), 401, 'invalid_credentials');
      });
    });

    describe('POST /auth/refresh', () => {
      it('200 with a new pair; the chain of refresh tokens keeps working', async () => {
        const first = await loggedIn();
        const second = await refresh(main, first.refresh);
        expect(second.status).to.equal(200);
        const body = fields(second);
        expect(Object.keys(body).sort()).to.deep.equal(TOKEN_PAIR_FIELDS);
        expect(body).to.include({ token_type: 'Bearer', expires_in: 900, refresh_expires_in: 604800 });
        const next = session(second);
        expect(next.access).not.to.equal(first.access);
        expect(next.refresh).not.to.equal(first.refresh);
        expect((await me(main, next.access)).json).to.deep.equal({ username: alice.username });
        const third = session(await refresh(main, next.refresh));
        expect((await me(main, third.access)).status).to.equal(200);
      });

      it('a spent refresh token presented again revokes its whole family and its access tokens', async () => {
        const other = await loggedIn();
        const first = await loggedIn();
        const second = session(await refresh(main, first.refresh));
        const third = session(await refresh(main, second.refresh));
        expectError(await refresh(main, first.refresh), 401, 'invalid_grant');
        expectError(await refresh(main, third.refresh), 401, 'invalid_grant');
        for (const access of [first.access, second.access, third.access]) {
          expectError(await me(main, access), 401, 'invalid_token');
        }
        // another session of the same user is another family: untouched
        expect((await me(main, other.access)).status).to.equal(200);
        expect((await refresh(main, other.refresh)).status).to.equal(200);
        const reuse = auditOf(main, 'refresh_reuse').filter(
          (l) => l.family === decodePart(first.access, 1).fam,
        );
        expect(reuse).to.have.length(1);
        expect(reuse[0]).to.include({ username: alice.username, revoked_access_count: 3 });
      });

      it('hands out no access token when the family is revoked while the refresh is in flight', async () => {
        const base = await state();
        const store = base.refreshTokens;
        // A reuse (or logout) elsewhere lands between this refresh's rotation and its issuing.
        const racing = await node({
          state: {
            ...base,
            refreshTokens: {
              createFamily: (...args) => store.createFamily(...args),
              recordAccessToken: (...args) => store.recordAccessToken(...args),
              revokeFamily: (...args) => store.revokeFamily(...args),
              rotate: async (...args) => {
                const result = await store.rotate(...args);
                if (result.kind === 'ok') await store.revokeFamily(result.family);
                return result;
              },
            },
          },
        });
        const user = await registered(racing, 'race');
        const first = session(await login(racing, user));
        expectError(await refresh(racing, first.refresh), 401, 'invalid_grant');
        const failure = auditOf(racing, 'refresh_failure').filter((l) => l.username === user.username);
        expect(failure).to.have.length(1);
        expect(failure[0]).to.include({ reason: 'family_revoked' });
      });

      it('401 invalid_grant for an unknown token; 400 invalid_request for a wrong shape', async () => {
        expectError(await refresh(main, randomBytes(32).toString('base64url')), 401, 'invalid_grant');
        const { access } = await loggedIn();
        expectError(await refresh(main, access), 401, 'invalid_grant');
        for (const body of [
          {},
          { refresh_token: 5 },
          { refresh_token: '' },
          { refresh_token: 'x', more: 1 },
        ]) {
          expectError(await main.client.post('/auth/refresh', body), 400, 'invalid_request');
        }
      });
    });

    describe('POST /auth/logout', () => {
      it('204; the access token, every token of its family and its refresh token are dead', async () => {
        const first = await loggedIn();
        const second = session(await refresh(main, first.refresh));
        const out = await main.client.send('POST', '/auth/logout', { headers: bearer(second.access) });
        expect(out.status).to.equal(204);
        expect(out.text).to.equal('');
        expectError(await me(main, second.access), 401, 'invalid_token');
        expectError(await me(main, first.access), 401, 'invalid_token');
        expectError(await refresh(main, second.refresh), 401, 'invalid_grant');
        expectError(
          await main.client.send('POST', '/auth/logout', { headers: bearer(second.access) }),
          401,
          'invalid_token',
        );
      });

      it('401 invalid_token without a valid bearer token', async () => {
        const reply = await main.client.send('POST', '/auth/logout');
        expectError(reply, 401, 'invalid_token');
        expect(reply.headers.get('www-authenticate')).to.match(/^Bearer/);
        expectError(
          await main.client.send('POST', '/auth/logout', { headers: bearer('a.b.c') }),
          401,
          'invalid_token',
        );
      });
    });

    describe('GET /auth/me', () => {
      it('200 {username} for a valid access token', async () => {
        const { access } = await loggedIn();
        const reply = await me(main, access);
        expect(reply.status).to.equal(200);
        expect(reply.json).to.deep.equal({ username: alice.username });
      });

      it('401 invalid_token without a usable Authorization header', async () => {
        const { access } = await loggedIn();
        for (const authorization of [
          '',
          'Basic YWxpY2U6cHc=',
          'Bearer',
          `Bearer ${access} extra`,
          access,
          `Token ${access}`,
        ]) {
          expectError(await main.client.get('/auth/me', { authorization }), 401, 'invalid_token');
        }
        expectError(await main.client.get(`/auth/me?token=${access}`), 401, 'invalid_token');
      });

      it('401 invalid_token for every forged token; a token the key really signed passes', async () => {
        const settings = { issuer: main.config.jwtIssuer, audience: main.config.jwtAudience };
        const list = forgeries(main.signingKey, settings, alice.username);
        expect(list.length).to.be.above(30);
        for (const forgery of list) {
          const reply = await me(main, forgery.token);
          expect(reply.status, forgery.name).to.equal(401);
          expect(reply.json, forgery.name).to.deep.equal({
            error: 'invalid_token',
            message: 'the access token is missing, invalid, expired or revoked',
          });
          const out = await main.client.send('POST', '/auth/logout', { headers: bearer(forgery.token) });
          expect(out.status, forgery.name).to.equal(401);
        }
        // Controls: the same claims properly signed, even with jku/jwk headers, are accepted.
        const header = { alg: 'ES256', typ: 'JWT', kid: main.signingKey.kid };
        const claims = { ...goodClaims(settings, alice.username), jti: unique('jti-control-') };
        for (const extra of [{}, { jku: 'http://127.0.0.1:9/jwks.json', jwk: { kty: 'EC' } }]) {
          const token = signEs256({ ...header, ...extra }, claims, main.signingKey.privateKey);
          expect((await me(main, token)).status).to.equal(200);
        }
      });
    });

    describe('GET /auth/jwks.json', () => {
      it('200 {keys}: the public key that verifies the access tokens, and nothing private', async () => {
        const reply = await main.client.get('/auth/jwks.json');
        expect(reply.status).to.equal(200);
        const keys = fields(reply).keys as Record<string, unknown>[];
        expect(keys).to.have.length(1);
        expect(keys[0]).to.include({
          kty: 'EC',
          crv: 'P-256',
          alg: 'ES256',
          use: 'sig',
          kid: main.signingKey.kid,
        });
        expect(keys[0]).not.to.have.property('d');
        // what a chat node does with it
        const verifier = new TokenVerifier(parseJwks(reply.json), {
          issuer: main.config.jwtIssuer,
          audience: main.config.jwtAudience,
        });
        const { access } = await loggedIn();
        expect(verifier.verify(access).sub).to.equal(alice.username);
      });
    });

    describe('health', () => {
      it('GET /healthz 200 and GET /readyz 200 while the state answers', async () => {
        expect((await main.client.get('/healthz')).status).to.equal(200);
        expect((await main.client.get('/readyz')).status).to.equal(200);
      });
    });

    describe('bodies and errors', () => {
      const paths = ['/auth/register', '/auth/login', '/auth/refresh'];
      const json = JSON.stringify({ username: 'someone', password: 'long-enough-1' });

      it('415 unsupported_media_type for anything but application/json', async () => {
        for (const path of paths) {
          for (const headers of [
            { 'content-type': 'text/plain' },
            { 'content-type': 'application/x-www-form-urlencoded' },
          ]) {
            expectError(
              await main.client.send('POST', path, { body: json, headers }),
              415,
              'unsupported_media_type',
            );
          }
          // bytes with no Content-Type at all
          expectError(
            await main.client.send('POST', path, { body: Buffer.from(json) }),
            415,
            'unsupported_media_type',
          );
        }
      });

      it('400 invalid_json for malformed JSON or a bare JSON value', async () => {
        const headers = { 'content-type': 'application/json' };
        for (const path of paths) {
          for (const body of ['{"username": "a",', "{'a': 1}", '"just a string"', '42', 'null']) {
            expectError(await main.client.send('POST', path, { body, headers }), 400, 'invalid_json');
          }
          expectError(await main.client.send('POST', path, { body: '[]', headers }), 400, 'invalid_request');
        }
      });

      it('413 payload_too_large beyond MAX_BODY_BYTES', async () => {
        const big = { username: 'someone', password: 'x'.repeat(main.config.maxBodyBytes) };
        for (const path of paths) {
          expectError(await main.client.post(path, big), 413, 'payload_too_large');
        }
      });

      it('404 not_found JSON for unknown routes and methods', async () => {
        for (const [method, path] of [
          ['GET', '/'],
          ['GET', '/nope'],
          ['GET', '/auth/login'],
          ['POST', '/auth/me'],
          ['DELETE', '/auth/register'],
          ['GET', '/auth/../etc/passwd'],
        ] as const) {
          expectError(await main.client.send(method, path), 404, 'not_found');
        }
      });

      it('500 internal carries no detail of the failure; no X-Powered-By anywhere', async () => {
        const base = await state();
        const boom = new Error('boom at /srv/app/secret.js:12:34');
        const broken = await node({
          state: { ...base, users: { create: () => Promise.reject(boom), get: () => Promise.reject(boom) } },
        });
        const reply = await login(broken, { username: 'someone', password: 'long-enough-1' });
        expectError(reply, 500, 'internal');
        expect(reply.json).to.deep.equal({ error: 'internal', message: 'internal error' });
        expect(reply.text).not.to.include('boom');
        // the operator still sees what happened
        expect(broken.logs.text()).to.include('boom');
        for (const r of [
          reply,
          await main.client.get('/healthz'),
          await main.client.get('/auth/jwks.json'),
        ]) {
          expect(r.headers.get('x-powered-by')).to.equal(null);
        }
      });
    });

    describe('audit log', () => {
      it('writes register, login success/failure, refresh, reuse and logout as JSON lines with the real address', async () => {
        const user = newUser('audit');
        const address = nextAddress();
        expect((await main.client.post('/auth/register', user, from(address))).status).to.equal(201);
        await login(main, { ...user, password: 'not-the-password' }, address);
        const ghost = unique('ghost');
        await login(main, { username: ghost, password: 'not-the-password' }, address);
        const first = session(await login(main, user, address));
        const second = session(await refresh(main, first.refresh, address));
        await refresh(main, first.refresh, address);
        const third = session(await login(main, user, address));
        await main.client.send('POST', '/auth/logout', {
          headers: { ...bearer(third.access), ...from(address) },
        });

        const mine = main.logs
          .lines()
          .filter((l) => l.audit === true && (l.username === user.username || l.username === ghost));
        expect(mine.map((l) => [l.event, l.reason])).to.deep.equal([
          ['register', undefined],
          ['login_failure', 'wrong_password'],
          ['login_failure', 'unknown_user'],
          ['login_success', undefined],
          ['refresh', undefined],
          ['refresh_reuse', undefined],
          ['login_success', undefined],
          ['logout', undefined],
        ]);
        for (const line of mine) {
          expect(line).to.include({ level: 'info', address });
          expect(line.message).to.equal(line.event);
          expect(line.request_id).to.be.a('string');
          expect(line.timestamp).to.be.a('string');
        }
        const family = decodePart(first.access, 1).fam;
        expect(mine[3]).to.include({ family });
        expect(mine[5]).to.include({ family, revoked_access_count: 2 });
        expect(mine[7]).to.include({ jti: decodePart(third.access, 1).jti, revoked_access_count: 1 });
        // and none of the secrets of this flow
        const text = main.logs.text();
        for (const secret of [
          user.password,
          first.access,
          first.refresh,
          second.access,
          second.refresh,
          third.access,
        ]) {
          expect(text).not.to.include(secret);
        }
      });
    });
  });
}

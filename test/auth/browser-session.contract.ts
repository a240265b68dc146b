import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '@securechat/common';
import { authLimits, type AuthState } from '@securechat/state';
import { CORS_ROUTES, SESSION_COOKIE } from '@securechat/auth';
import { startAuthNode, type TestAuthNode } from '../support/auth-node';
import { expectError, fields, type Reply } from '../support/http';
import type { MakeState } from './auth-http.contract';

const PAGE = 'https://chat.example';
const OTHER_PAGE = 'http://localhost:3000';
const COOKIE_ATTRIBUTES = 'Path=/auth/refresh; HttpOnly; Secure; SameSite=Strict';

interface User {
  username: string;
  password: string;
}

/** The one Set-Cookie of a reply, split into its value and its attributes. */
function setCookie(reply: Reply): { value: string; attributes: string } {
  const cookies = reply.headers.getSetCookie();
  expect(cookies, 'exactly one Set-Cookie').to.have.length(1);
  const [pair, ...attributes] = (cookies[0] as string).split('; ');
  const prefix = `${SESSION_COOKIE}=`;
  expect(pair?.startsWith(prefix), String(pair)).to.equal(true);
  return { value: (pair as string).slice(prefix.length), attributes: attributes.join('; ') };
}

function expectCleared(reply: Reply): void {
  const cookie = setCookie(reply);
  expect(cookie.value).to.equal('');
  expect(cookie.attributes).to.equal(`${COOKIE_ATTRIBUTES}; Max-Age=0`);
}

/**
 * The browser flow of docs/AUTH.md on a real auth node, once per state backend: the
 * refresh token in an HttpOnly cookie, the Origin check on the endpoints that use it,
 * CORS for ALLOWED_ORIGINS, and the JSON flow beside it unchanged.
 */
export function browserSessionSuite(name: string, makeState: MakeState): void {
  describe(`auth HTTP API, browser session and CORS: ${name}`, function () {
    this.timeout(30_000);
    let node: TestAuthNode;
    let state: AuthState;
    let seq = 0;

    before(async () => {
      state = await makeState(authLimits(loadConfig({}, 'embedded')));
      node = await startAuthNode({ state, env: { ALLOWED_ORIGINS: `${PAGE},${OTHER_PAGE}` } });
    });
    after(async () => {
      await node.close();
      await state.close();
    });

    async function newUser(): Promise<User> {
      const user = { username: `b${++seq}x${randomBytes(3).toString('hex')}`, password: 'browser-pw-1' };
      expect((await node.client.post('/auth/register', user)).status).to.equal(201);
      return user;
    }

    const fromPage = (origin = PAGE) => ({ origin });
    const withCookie = (value: string, origin = PAGE) => ({ origin, cookie: `${SESSION_COOKIE}=${value}` });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const refreshByCookie = (value: string, origin = PAGE) =>
      node.client.post('/auth/refresh', { session: 'cookie' }, withCookie(value, origin));
    const me = (token: string) => node.client.get('/auth/me', bearer(token));

    async function cookieLogin(user: User): Promise<{ access: string; cookie: string; reply: Reply }> {
      const reply = await node.client.post('/auth/login', { ...user, session: 'cookie' }, fromPage());
      expect(reply.status, reply.text).to.equal(200);
      return { access: String(fields(reply).access_token), cookie: setCookie(reply).value, reply };
    }

    describe('the session cookie', () => {
      it('login with "session":"cookie" puts the refresh token in an HttpOnly, Secure, SameSite=Strict cookie, never in the body', async () => {
        const { reply, cookie, access } = await cookieLogin(await newUser());
        const body = fields(reply);
        expect(Object.keys(body).sort()).to.deep.equal([
          'access_token',
          'expires_in',
          'refresh_expires_in',
          'token_type',
        ]);
        expect(body.token_type).to.equal('Bearer');
        expect(cookie).to.match(/^[A-Za-z0-9_-]{43}$/);
        expect(setCookie(reply).attributes).to.equal(
          `${COOKIE_ATTRIBUTES}; Max-Age=${body.refresh_expires_in}`,
        );
        expect(reply.text).not.to.include(cookie);
        expect((await me(access)).status).to.equal(200);
      });

      it('refresh from the cookie rotates it; the spent cookie presented again revokes the family', async () => {
        const first = await cookieLogin(await newUser());
        const rotated = await refreshByCookie(first.cookie);
        expect(rotated.status, rotated.text).to.equal(200);
        expect(fields(rotated)).not.to.have.property('refresh_token');
        const second = setCookie(rotated);
        expect(second.value).not.to.equal(first.cookie);
        expect(second.attributes).to.match(/Max-Age=\d+$/);
        const access = String(fields(rotated).access_token);
        expect((await me(access)).status).to.equal(200);

        const reused = await refreshByCookie(first.cookie);
        expectError(reused, 401, 'invalid_grant');
        expectCleared(reused);
        // reuse detection as in the JSON flow: the whole family is dead
        expectError(await me(access), 401, 'invalid_token');
        expectError(await refreshByCookie(second.value), 401, 'invalid_grant');
      });

      it('401 invalid_grant and a cleared cookie when the cookie is missing, malformed or unknown', async () => {
        for (const headers of [
          fromPage(),
          withCookie('not a token!'),
          withCookie(randomBytes(32).toString('base64url')),
          { origin: PAGE, cookie: `other=1; securechat_refresh=${randomBytes(32).toString('base64url')}` },
        ]) {
          const reply = await node.client.post('/auth/refresh', { session: 'cookie' }, headers);
          expectError(reply, 401, 'invalid_grant');
          expectCleared(reply);
        }
      });

      it('403 blocked for a blocked user, and the cookie is cleared', async () => {
        const user = await newUser();
        const { cookie } = await cookieLogin(user);
        await state.blocklist.block(user.username, 'test', 60);
        const reply = await refreshByCookie(cookie);
        expectError(reply, 403, 'blocked');
        expectCleared(reply);
      });

      it('logout (bearer) clears the cookie, and the cookie is dead afterwards', async () => {
        const { access, cookie } = await cookieLogin(await newUser());
        const reply = await node.client.send('POST', '/auth/logout', {
          headers: { ...bearer(access), ...fromPage() },
        });
        expect(reply.status).to.equal(204);
        expectCleared(reply);
        expectError(await refreshByCookie(cookie), 401, 'invalid_grant');
      });

      it('400 invalid_request for a session other than "cookie", or a token and a cookie session at once', async () => {
        const user = await newUser();
        for (const session of ['token', 'COOKIE', true, null]) {
          expectError(
            await node.client.post('/auth/login', { ...user, session }, fromPage()),
            400,
            'invalid_request',
          );
          expectError(
            await node.client.post('/auth/refresh', { session }, fromPage()),
            400,
            'invalid_request',
          );
        }
        expectError(
          await node.client.post(
            '/auth/refresh',
            { refresh_token: 'x'.repeat(43), session: 'cookie' },
            fromPage(),
          ),
          400,
          'invalid_request',
        );
      });
    });

    describe('the Origin check on the endpoints that use the cookie', () => {
      const refused = [
        undefined,
        'https://evil.example',
        'null',
        `${PAGE}/`,
        `${PAGE}:443`,
        'HTTPS://chat.example',
        'https://chat.example.evil.example',
      ];

      it('403 origin_not_allowed for a cookie login from anywhere but ALLOWED_ORIGINS, before the limiter and bcrypt', async () => {
        const user = await newUser();
        for (const origin of refused) {
          const mark = node.trace.length;
          const reply = await node.client.post(
            '/auth/login',
            { ...user, session: 'cookie' },
            origin === undefined ? {} : { origin },
          );
          expectError(reply, 403, 'origin_not_allowed');
          expect(reply.headers.getSetCookie()).to.deep.equal([]);
          expect(node.since(mark), String(origin)).to.deep.equal([]);
        }
        // every allowed origin, exactly as written
        for (const origin of [PAGE, OTHER_PAGE]) {
          const reply = await node.client.post('/auth/login', { ...user, session: 'cookie' }, { origin });
          expect(reply.status, origin).to.equal(200);
        }
      });

      it('403 origin_not_allowed for a cookie refresh from anywhere else, and the cookie is not spent', async () => {
        const { cookie } = await cookieLogin(await newUser());
        for (const origin of refused) {
          const headers =
            origin === undefined ? { cookie: `${SESSION_COOKIE}=${cookie}` } : withCookie(cookie, origin);
          const reply = await node.client.post('/auth/refresh', { session: 'cookie' }, headers);
          expectError(reply, 403, 'origin_not_allowed');
          expect(reply.headers.getSetCookie(), String(origin)).to.deep.equal([]);
        }
        expect((await refreshByCookie(cookie, OTHER_PAGE)).status).to.equal(200);
      });
    });

    describe('the JSON flow beside it, unchanged', () => {
      it('login without "session" returns the refresh token in the body and sets no cookie; refresh takes it from the body', async () => {
        const user = await newUser();
        const login = await node.client.post('/auth/login', user);
        expect(login.status).to.equal(200);
        expect(Object.keys(fields(login)).sort()).to.deep.equal([
          'access_token',
          'expires_in',
          'refresh_expires_in',
          'refresh_token',
          'token_type',
        ]);
        expect(login.headers.getSetCookie()).to.deep.equal([]);
        // no Origin needed, and a cookie beside the body is ignored
        const refreshed = await node.client.post(
          '/auth/refresh',
          { refresh_token: fields(login).refresh_token },
          { cookie: `${SESSION_COOKIE}=${randomBytes(32).toString('base64url')}` },
        );
        expect(refreshed.status, refreshed.text).to.equal(200);
        expect(fields(refreshed).refresh_token).to.be.a('string');
        expect(refreshed.headers.getSetCookie()).to.deep.equal([]);
      });
    });

    describe('CORS', () => {
      const preflight = (path: string, origin: string | undefined, method = 'POST') =>
        node.client.send('OPTIONS', path, {
          headers: {
            ...(origin === undefined ? {} : { origin }),
            'access-control-request-method': method,
            'access-control-request-headers': 'content-type,authorization',
          },
        });

      it('answers a preflight from an allowed origin on every route, with credentials only where the cookie is used', async () => {
        for (const [path, route] of Object.entries(CORS_ROUTES)) {
          for (const origin of [PAGE, OTHER_PAGE]) {
            const reply = await preflight(path, origin, route.methods);
            expect(reply.status, `${path} ${origin}`).to.equal(204);
            const h = reply.headers;
            expect(h.get('access-control-allow-origin')).to.equal(origin);
            expect(h.get('access-control-allow-methods')).to.equal(route.methods);
            expect(h.get('access-control-allow-headers')).to.equal('Content-Type, Authorization');
            expect(Number(h.get('access-control-max-age'))).to.be.above(0);
            expect(h.get('access-control-allow-credentials')).to.equal(route.credentials ? 'true' : null);
            expect(h.get('vary')).to.match(/\bOrigin\b/);
          }
        }
        expect(
          Object.entries(CORS_ROUTES)
            .filter(([, r]) => r.credentials)
            .map(([p]) => p),
        ).to.deep.equal(['/auth/login', '/auth/refresh', '/auth/logout']);
      });

      it('gives any other origin, or none, no CORS headers: 403 origin_not_allowed to its preflight', async () => {
        for (const origin of ['https://evil.example', 'null', `${PAGE}/`, undefined]) {
          const reply = await preflight('/auth/login', origin);
          expectError(reply, 403, 'origin_not_allowed');
          expect(reply.headers.get('access-control-allow-origin')).to.equal(null);
          expect(reply.headers.get('access-control-allow-credentials')).to.equal(null);
          expect(reply.headers.get('access-control-allow-methods')).to.equal(null);
        }
        expectError(await preflight('/auth/nowhere', PAGE), 404, 'not_found');
      });

      it('echoes an allowed origin on actual requests (errors included), varies by Origin, and says nothing to others', async () => {
        const allowed = await node.client.get('/auth/jwks.json', fromPage());
        expect(allowed.headers.get('access-control-allow-origin')).to.equal(PAGE);
        expect(allowed.headers.get('access-control-allow-credentials')).to.equal(null);
        expect(allowed.headers.get('access-control-expose-headers')).to.include('Retry-After');
        expect(allowed.headers.get('vary')).to.match(/\bOrigin\b/);
        const error = await node.client.get('/auth/me', fromPage(OTHER_PAGE));
        expectError(error, 401, 'invalid_token');
        expect(error.headers.get('access-control-allow-origin')).to.equal(OTHER_PAGE);
        const login = await node.client.post(
          '/auth/login',
          { username: 'nobody', password: 'x'.repeat(8) },
          fromPage(),
        );
        expect(login.headers.get('access-control-allow-credentials')).to.equal('true');

        const other = await node.client.get('/auth/jwks.json', { origin: 'https://evil.example' });
        expect(other.status).to.equal(200);
        expect(other.headers.get('access-control-allow-origin')).to.equal(null);
        expect(other.headers.get('vary')).to.match(/\bOrigin\b/);
        // health checks are not the API: no CORS at all
        const health = await node.client.get('/healthz', fromPage());
        expect(health.headers.get('access-control-allow-origin')).to.equal(null);
      });
    });
  });
}

import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { clientAddress, type Logger, type TrustList } from '@securechat/common';
import { StateUnavailableError, type AuthState } from '@securechat/state';
import type { PublicJwk } from '@securechat/tokens';
import type { AuditContext } from './audit';
import { HttpError } from './errors';
import type { AuthService, TokenPair } from './auth-service';
import { noAuthMetrics, type AuthMetrics } from './metrics';
import { cors, type OriginPolicy } from './origins';
import { clearedSessionCookie, readSessionCookie, sessionCookie } from './session-cookie';
import { parseLogin, parseRefresh, parseRegister } from './validation';

export interface AuthAppDeps {
  service: AuthService;
  state: Pick<AuthState, 'ready'>;
  jwks: { keys: PublicJwk[] };
  logger: Logger;
  trustProxy: TrustList;
  maxBodyBytes: number;
  /** ALLOWED_ORIGINS: CORS, and who may use the session cookie. */
  origins: OriginPolicy;
  metrics?: AuthMetrics;
}

interface Locals {
  ctx: AuditContext;
}

function ctxOf(res: Response): AuditContext {
  return (res.locals as Locals).ctx;
}

function bearer(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
  return match?.[1];
}

type Handler = (req: Request, res: Response) => Promise<void>;

/** A browser session's answer: the refresh token goes into the cookie, never the body. */
function browserSession(res: Response, pair: TokenPair): Omit<TokenPair, 'refresh_token'> {
  const { refresh_token: refreshToken, ...rest } = pair;
  res.append('Set-Cookie', sessionCookie(refreshToken, pair.refresh_expires_in));
  return rest;
}

/** Express 5 forwards rejected promises to the error handler; this keeps the types honest. */
const route =
  (handler: Handler) =>
  (req: Request, res: Response, next: NextFunction): void => {
    handler(req, res).catch(next);
  };

/** Every route of the contract's HTTP API, plus health. No listening here. */
export function createAuthApp(deps: AuthAppDeps): express.Express {
  const { service, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', false); // the client address is computed by clientAddress()
  app.use(helmet());

  const metrics = deps.metrics ?? noAuthMetrics();
  app.use((req, res, next) => {
    const start = performance.now();
    res.on('close', () => {
      // The route pattern that matched (set by the router), never the URL the client sent.
      const route = req.route !== undefined ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      const status = res.writableFinished ? res.statusCode : 'aborted';
      metrics.request(route, req.method, status, (performance.now() - start) / 1000);
    });
    next();
  });

  app.use((req, res, next) => {
    const requestId = randomUUID();
    const address = clientAddress(deps.trustProxy, req.socket.remoteAddress, req.headers['x-forwarded-for']);
    (res.locals as Locals).ctx = { requestId, address };
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(cors(deps.origins));

  const json = express.json({ limit: deps.maxBodyBytes, strict: true, type: () => true });
  const jsonOnly = (req: Request, _res: Response, next: NextFunction) => {
    if (!req.is('application/json')) {
      next(new HttpError('unsupported_media_type'));
      return;
    }
    json(req, _res, next);
  };

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(
    '/readyz',
    route(async (_req, res) => {
      if (await deps.state.ready()) res.json({ status: 'ready' });
      else res.status(503).json(new HttpError('not_ready').body());
    }),
  );

  app.get('/auth/jwks.json', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json(deps.jwks);
  });

  app.post(
    '/auth/register',
    jsonOnly,
    route(async (req, res) => {
      const { username, password } = parseRegister(req.body as unknown);
      res.status(201).json(await service.register(username, password, ctxOf(res)));
    }),
  );

  app.post(
    '/auth/login',
    jsonOnly,
    route(async (req, res) => {
      const { username, password, cookie } = parseLogin(req.body as unknown);
      // Refused before the limiter and bcrypt: a page we do not serve gets no session.
      if (cookie) deps.origins.requireAllowed(req);
      const pair = await service.login(username, password, ctxOf(res));
      res.json(cookie ? browserSession(res, pair) : pair);
    }),
  );

  app.post(
    '/auth/refresh',
    jsonOnly,
    route(async (req, res) => {
      const request = parseRefresh(req.body as unknown);
      if (request.kind === 'body') {
        res.json(await service.refresh(request.refreshToken, ctxOf(res)));
        return;
      }
      deps.origins.requireAllowed(req);
      try {
        const token = readSessionCookie(req.headers.cookie);
        if (token === undefined) throw new HttpError('invalid_grant');
        res.json(browserSession(res, await service.refresh(token, ctxOf(res))));
      } catch (err) {
        // A session that is over is forgotten by the browser too; an outage is not that.
        if (err instanceof HttpError && (err.code === 'invalid_grant' || err.code === 'blocked')) {
          res.append('Set-Cookie', clearedSessionCookie());
        }
        throw err;
      }
    }),
  );

  app.post(
    '/auth/logout',
    route(async (req, res) => {
      // The browser forgets its session cookie whatever the outcome: logging out is final.
      res.append('Set-Cookie', clearedSessionCookie());
      const claims = await service.authenticate(bearer(req), ctxOf(res));
      await service.logout(claims, ctxOf(res));
      res.status(204).end();
    }),
  );

  app.get(
    '/auth/me',
    route(async (req, res) => {
      const claims = await service.authenticate(bearer(req), ctxOf(res));
      res.json({ username: claims.sub });
    }),
  );

  app.use((_req, _res, next) => {
    next(new HttpError('not_found'));
  });

  // Four arguments mark this as Express's error handler.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const error = toHttpError(err);
    if (error.status >= 500) {
      logger.error('request failed', { request_id: ctxOf(res)?.requestId, code: error.code, err });
    }
    if (res.headersSent) return;
    for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
    res.status(error.status).json(error.body());
  });

  return app;
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof StateUnavailableError) return new HttpError('unavailable', { 'Retry-After': '1' });
  if (typeof err === 'object' && err !== null && 'type' in err) {
    const type = (err as { type: unknown }).type;
    if (type === 'entity.too.large') return new HttpError('payload_too_large');
    if (type === 'entity.parse.failed') return new HttpError('invalid_json');
    if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
      return new HttpError('unsupported_media_type');
    }
    if (type === 'request.aborted' || type === 'request.size.invalid')
      return new HttpError('invalid_request');
  }
  return new HttpError('internal');
}

import type { NextFunction, Request, Response } from 'express';
import { HttpError } from './errors';

/**
 * Which web pages may use the auth API from a browser: the exact origins of
 * ALLOWED_ORIGINS (scheme://host[:port]), the same list the chat nodes check on a
 * WebSocket handshake. A page of another origin gets no CORS headers (its script cannot
 * read an answer) and may never use the session cookie.
 */
export class OriginPolicy {
  private readonly allowed: ReadonlySet<string>;

  constructor(origins: Iterable<string>) {
    this.allowed = new Set(origins);
  }

  /** The request's Origin when it is exactly one of the allowed origins. */
  allowedOrigin(req: Request): string | undefined {
    const origin = req.headers.origin;
    return origin !== undefined && this.allowed.has(origin) ? origin : undefined;
  }

  /**
   * For the endpoints that use the session cookie: a browser sends `Origin` with every
   * POST, so one that is missing or not allowed is a page we do not serve (or not a
   * browser at all, which has no business with the cookie). This is the CSRF check,
   * beside SameSite=Strict and the JSON-only bodies that force a CORS preflight.
   */
  requireAllowed(req: Request): void {
    if (this.allowedOrigin(req) === undefined) throw new HttpError('origin_not_allowed');
  }
}

/**
 * The auth API's routes as CORS sees them: the methods each accepts, and whether a
 * browser may send or receive the session cookie there (credentials). A preflight for
 * any other path is a 404, like the request itself would be.
 */
export const CORS_ROUTES: Readonly<Record<string, { methods: string; credentials: boolean }>> = Object.freeze(
  {
    '/auth/register': { methods: 'POST', credentials: false },
    '/auth/login': { methods: 'POST', credentials: true },
    '/auth/refresh': { methods: 'POST', credentials: true },
    '/auth/logout': { methods: 'POST', credentials: true },
    '/auth/me': { methods: 'GET', credentials: false },
    '/auth/jwks.json': { methods: 'GET', credentials: false },
  },
);

const ALLOW_HEADERS = 'Content-Type, Authorization';
const EXPOSE_HEADERS = 'Retry-After, X-Request-Id';
const PREFLIGHT_MAX_AGE_S = '600';

/**
 * CORS for the auth API, answered by the node itself (nginx passes it through):
 * - every `/auth/` response varies by Origin (`Vary: Origin`), so no cache hands one
 *   origin's answer to another;
 * - an allowed Origin is echoed in `Access-Control-Allow-Origin` (never `*`), with
 *   `Access-Control-Allow-Credentials: true` only where the cookie is used;
 * - a preflight (`OPTIONS`) from an allowed origin is `204` with the route's methods
 *   and headers; from any other origin, or with no Origin, it is
 *   `403 origin_not_allowed` without CORS headers, which the browser reports as a CORS
 *   failure to the page.
 */
export function cors(policy: OriginPolicy) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!req.path.startsWith('/auth/')) {
      next();
      return;
    }
    res.vary('Origin');
    const route = CORS_ROUTES[req.path];
    const origin = policy.allowedOrigin(req);
    if (origin !== undefined && route !== undefined) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      if (route.credentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method !== 'OPTIONS') {
      if (origin !== undefined) res.setHeader('Access-Control-Expose-Headers', EXPOSE_HEADERS);
      next();
      return;
    }
    if (route === undefined) {
      next(new HttpError('not_found'));
      return;
    }
    if (origin === undefined) {
      next(new HttpError('origin_not_allowed'));
      return;
    }
    res.setHeader('Access-Control-Allow-Methods', route.methods);
    res.setHeader('Access-Control-Allow-Headers', ALLOW_HEADERS);
    res.setHeader('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_S);
    res.status(204).end();
  };
}

import { STATUS_CODES } from 'node:http';
import { Distribution, LATENCY_BUCKETS, Tally, type LabelSpec, type Registry } from '@securechat/metrics';
import type { BcryptPrimitives } from './passwords';

/** The route patterns of the auth API (never the raw URL); anything else is `unmatched`. */
export const AUTH_ROUTES = [
  '/auth/register',
  '/auth/login',
  '/auth/refresh',
  '/auth/logout',
  '/auth/me',
  '/auth/jwks.json',
  '/healthz',
  '/readyz',
  'unmatched',
] as const;

export const LOGIN_OUTCOMES = ['ok', 'invalid_credentials', 'limited', 'blocked', 'error'] as const;
export type LoginOutcome = (typeof LOGIN_OUTCOMES)[number];

export const REFRESH_OUTCOMES = [
  'ok',
  'invalid',
  'revoked',
  'reused',
  'user_revoked',
  'blocked',
  'error',
] as const;
export type RefreshOutcome = (typeof REFRESH_OUTCOMES)[number];

export const REGISTER_OUTCOMES = ['ok', 'taken', 'limited', 'error'] as const;
export type RegisterOutcome = (typeof REGISTER_OUTCOMES)[number];

/** The limits of the auth API that refuse an attempt (`LimitName` of @securechat/state). */
export const AUTH_LIMITS = [
  'username_address',
  'address_daily',
  'account',
  'register_hourly',
  'register_daily',
] as const;

/** Every label of the auth metrics and the values it may take (`other` aside). */
export const AUTH_LABELS = {
  route: { name: 'route', values: AUTH_ROUTES },
  method: { name: 'method', values: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] },
  /** Any status Node knows, and `aborted` for a response the client gave up on. */
  status: { name: 'status', values: [...Object.keys(STATUS_CODES), 'aborted'] },
  loginOutcome: { name: 'outcome', values: LOGIN_OUTCOMES },
  refreshOutcome: { name: 'outcome', values: REFRESH_OUTCOMES },
  registerOutcome: { name: 'outcome', values: REGISTER_OUTCOMES },
  limit: { name: 'limit', values: AUTH_LIMITS },
  policy: { name: 'policy', values: ['fail-closed', 'fail-open'] },
  bcryptOp: { name: 'op', values: ['hash', 'compare'] },
} as const satisfies Record<string, LabelSpec>;

/** What an auth node counts. */
export interface AuthMetrics {
  /** One HTTP request, by route pattern, method and status (or `aborted`). */
  request(route: string, method: string, status: number | 'aborted', seconds: number): void;
  login(outcome: LoginOutcome): void;
  /** A login or registration a limit refused, by that limit. */
  limited(limit: string): void;
  /** The limiter's store failed; `policy` says what the node did about it. */
  limiterUnavailable(policy: 'fail-closed' | 'fail-open'): void;
  refresh(outcome: RefreshOutcome): void;
  register(outcome: RegisterOutcome): void;
  bcrypt(op: 'hash' | 'compare', seconds: number): void;
}

export function createAuthMetrics(registry: Registry): AuthMetrics {
  const L = AUTH_LABELS;
  const requests = new Tally(
    registry,
    { name: 'securechat_auth_requests_total', help: 'HTTP requests by route pattern, method and status' },
    [L.route, L.method, L.status],
  );
  const durations = new Distribution(
    registry,
    {
      name: 'securechat_auth_request_duration_seconds',
      help: 'HTTP requests from arrival to the end of the response, by route pattern',
      buckets: LATENCY_BUCKETS,
    },
    [L.route],
  );
  const logins = new Tally(
    registry,
    { name: 'securechat_auth_logins_total', help: 'Logins by outcome' },
    [L.loginOutcome],
    LOGIN_OUTCOMES.map((o) => [o]),
  );
  const refusals = new Tally(
    registry,
    {
      name: 'securechat_auth_limiter_refusals_total',
      help: 'Logins and registrations the limits refused, by the limit that refused them',
    },
    [L.limit],
    AUTH_LIMITS.map((l) => [l]),
  );
  const limiterErrors = new Tally(
    registry,
    {
      name: 'securechat_auth_limiter_errors_total',
      help: 'Login limiter store failures, by the policy applied (LOGIN_LIMITER_ON_REDIS_ERROR)',
    },
    [L.policy],
    L.policy.values.map((p) => [p]),
  );
  const refreshes = new Tally(
    registry,
    {
      name: 'securechat_auth_refreshes_total',
      help: 'Refresh-token exchanges by outcome (reused: a spent token came back, its family revoked)',
    },
    [L.refreshOutcome],
    REFRESH_OUTCOMES.map((o) => [o]),
  );
  const registrations = new Tally(
    registry,
    { name: 'securechat_auth_registrations_total', help: 'Registrations by outcome' },
    [L.registerOutcome],
    REGISTER_OUTCOMES.map((o) => [o]),
  );
  const bcrypt = new Distribution(
    registry,
    {
      name: 'securechat_auth_bcrypt_seconds',
      help: 'bcrypt hash and compare time (on the event loop)',
      buckets: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5],
    },
    [L.bcryptOp],
    L.bcryptOp.values.map((o) => [o]),
  );
  return {
    request: (route, method, status, seconds) => {
      requests.inc(1, route, method, String(status));
      durations.observe(seconds, route);
    },
    login: (outcome) => logins.inc(1, outcome),
    limited: (limit) => refusals.inc(1, limit),
    limiterUnavailable: (policy) => limiterErrors.inc(1, policy),
    refresh: (outcome) => refreshes.inc(1, outcome),
    register: (outcome) => registrations.inc(1, outcome),
    bcrypt: (op, seconds) => bcrypt.observe(seconds, op),
  };
}

export function noAuthMetrics(): AuthMetrics {
  const nothing = () => undefined;
  return {
    request: nothing,
    login: nothing,
    limited: nothing,
    limiterUnavailable: nothing,
    refresh: nothing,
    register: nothing,
    bcrypt: nothing,
  };
}

/** bcrypt with each call timed into `metrics` (wraps bcryptjs, or a test's counting bcrypt). */
export function timedBcrypt(inner: BcryptPrimitives, metrics: AuthMetrics): BcryptPrimitives {
  const timed = async <T>(op: 'hash' | 'compare', work: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await work();
    } finally {
      metrics.bcrypt(op, (performance.now() - start) / 1000);
    }
  };
  return {
    hash: (password, cost) => timed('hash', () => inner.hash(password, cost)),
    compare: (password, hash) => timed('compare', () => inner.compare(password, hash)),
  };
}

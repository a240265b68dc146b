import type { KeyObject } from 'node:crypto';
import { ownOrigins, type AuthNodeConfig, type Logger } from '@securechat/common';
import type { AuthState } from '@securechat/state';
import { toJwks, TokenIssuer, TokenVerifier, type SigningKey } from '@securechat/tokens';
import type express from 'express';
import { createAuthApp } from './app';
import { AuthService } from './auth-service';
import { noAuthMetrics, timedBcrypt, type AuthMetrics } from './metrics';
import { OriginPolicy } from './origins';
import { bcryptjsPrimitives, PasswordHasher } from './passwords';

export interface AuthNodeDeps {
  config: AuthNodeConfig;
  state: AuthState;
  signingKey: SigningKey;
  /** Other public keys still trusted (a rotation in progress), served in the JWKS too. */
  extraPublicKeys?: ReadonlyMap<string, KeyObject>;
  logger: Logger;
  /**
   * The port the node really listens on, for the default ALLOWED_ORIGINS (its own
   * origins) when PORT is 0. Defaults to PORT.
   */
  listenPort?: number;
  /** Defaults to bcryptjs at BCRYPT_COST, timed into `metrics`. */
  passwords?: PasswordHasher;
  /** What the node counts (createAuthMetrics on the node's registry); nothing by default. */
  metrics?: AuthMetrics;
}

export interface AuthNode {
  app: express.Express;
  service: AuthService;
  issuer: TokenIssuer;
  verifier: TokenVerifier;
  passwords: PasswordHasher;
  /** Resolves when the node can answer logins at full cost (dummy hash ready). */
  ready(): Promise<void>;
}

/** The composition root of an auth node, shared by `start:auth` and embedded mode. */
export function createAuthNode(deps: AuthNodeDeps): AuthNode {
  const { config, signingKey, logger } = deps;
  const publicKeys = new Map<string, KeyObject>(deps.extraPublicKeys ?? []);
  publicKeys.set(signingKey.kid, signingKey.publicKey);
  const settings = { issuer: config.jwtIssuer, audience: config.jwtAudience };
  const issuer = new TokenIssuer(signingKey, { ...settings, ttlS: config.accessTokenTtlS });
  const verifier = new TokenVerifier(publicKeys, settings);
  const metrics = deps.metrics ?? noAuthMetrics();
  const passwords =
    deps.passwords ?? new PasswordHasher(config.bcryptCost, timedBcrypt(bcryptjsPrimitives, metrics));
  const service = new AuthService({
    state: deps.state,
    issuer,
    verifier,
    passwords,
    logger,
    refreshTokenTtlS: config.refreshTokenTtlS,
    limiterOnRedisError: config.loginLimiterOnRedisError,
    metrics,
  });
  const app = createAuthApp({
    service,
    state: deps.state,
    jwks: toJwks([...publicKeys.values()]),
    logger,
    trustProxy: config.trustProxy,
    maxBodyBytes: config.maxBodyBytes,
    origins: new OriginPolicy(
      config.allowedOrigins.length > 0
        ? config.allowedOrigins
        : ownOrigins(config, deps.listenPort ?? config.port),
    ),
    metrics,
  });
  return { app, service, issuer, verifier, passwords, ready: () => passwords.ready() };
}

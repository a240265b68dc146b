import { createHash, randomBytes } from 'node:crypto';
import { normalizeUsername, type Logger } from '@securechat/common';
import { StateUnavailableError, type AuthState, type LoginCheck } from '@securechat/state';
import { TokenError, type AccessClaims, type TokenIssuer, type TokenVerifier } from '@securechat/tokens';
import { audit, type AuditContext } from './audit';
import { HttpError } from './errors';
import { noAuthMetrics, type AuthMetrics, type LoginOutcome } from './metrics';
import type { PasswordHasher } from './passwords';

export interface TokenPair {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
}

export interface AuthServiceDeps {
  state: AuthState;
  issuer: TokenIssuer;
  verifier: TokenVerifier;
  passwords: PasswordHasher;
  logger: Logger;
  refreshTokenTtlS: number;
  limiterOnRedisError: 'fail-closed' | 'fail-open';
  now?: () => number;
  metrics?: AuthMetrics;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');
const randomId = (bytes: number) => randomBytes(bytes).toString('base64url');

/** The auth domain: what each endpoint does, independent of HTTP. */
/** A login's outcome from the error it ended with. */
const LOGIN_FAILURES: Readonly<Record<string, LoginOutcome>> = {
  invalid_credentials: 'invalid_credentials',
  too_many_attempts: 'limited',
  blocked: 'blocked',
};

export class AuthService {
  private readonly metrics: AuthMetrics;

  constructor(private readonly deps: AuthServiceDeps) {
    this.metrics = deps.metrics ?? noAuthMetrics();
  }

  /**
   * The registration limits go first, before the name is looked up or a password hashed,
   * so that a limited address gets the same 429 for a taken name as for a free one. A
   * taken name is then refused before bcrypt runs: 409 costs no hash, and answering it
   * fast tells nothing the status does not (each answer already spent a limited attempt).
   */
  async register(username: string, password: string, ctx: AuditContext): Promise<{ username: string }> {
    try {
      const result = await this.registerUser(username, password, ctx);
      this.metrics.register('ok');
      return result;
    } catch (err) {
      const code = err instanceof HttpError ? err.code : undefined;
      this.metrics.register(
        code === 'username_taken' ? 'taken' : code === 'too_many_attempts' ? 'limited' : 'error',
      );
      throw err;
    }
  }

  async login(rawUsername: string, password: string, ctx: AuditContext): Promise<TokenPair> {
    try {
      const pair = await this.logIn(rawUsername, password, ctx);
      this.metrics.login('ok');
      return pair;
    } catch (err) {
      this.metrics.login((err instanceof HttpError && LOGIN_FAILURES[err.code]) || 'error');
      throw err;
    }
  }

  private async registerUser(
    username: string,
    password: string,
    ctx: AuditContext,
  ): Promise<{ username: string }> {
    const check = await this.deps.state.registrationLimiter.attempt(ctx.address);
    if (!check.allowed) {
      this.metrics.limited(check.limit);
      audit(this.deps.logger, 'register_rate_limited', ctx, {
        retry_after_s: check.retryAfterS,
        limit: check.limit,
      });
      throw new HttpError('too_many_attempts', { 'Retry-After': String(check.retryAfterS) });
    }
    if ((await this.deps.state.users.get(username)) !== undefined) throw new HttpError('username_taken');
    const passwordHash = await this.deps.passwords.hash(password);
    const created = await this.deps.state.users.create({
      username,
      passwordHash,
      createdAt: (this.deps.now ?? Date.now)(),
    });
    if (!created) throw new HttpError('username_taken');
    audit(this.deps.logger, 'register', ctx, { username });
    return { username };
  }

  private async logIn(rawUsername: string, password: string, ctx: AuditContext): Promise<TokenPair> {
    const username = normalizeUsername(rawUsername);
    // Limiter keys never hold raw input: an invalid name is counted under its hash.
    const limiterKey = username ?? `h.${sha256(rawUsername.toLowerCase()).slice(0, 32)}`;
    const logged = username ?? '(invalid)';
    // Counted before bcrypt runs, so a locked-out name costs no hashing and a burst of
    // parallel guesses cannot all slip past the check.
    const check = await this.limiter(() => this.deps.state.loginLimiter.attempt(limiterKey, ctx.address));
    if (!check.allowed) {
      this.metrics.limited(check.limit);
      audit(this.deps.logger, 'login_rate_limited', ctx, {
        username: logged,
        retry_after_s: check.retryAfterS,
        limit: check.limit,
      });
      throw new HttpError('too_many_attempts', { 'Retry-After': String(check.retryAfterS) });
    }
    const user = username !== undefined ? await this.deps.state.users.get(username) : undefined;
    const valid = await this.deps.passwords.verify(password, user?.passwordHash);
    if (!valid || username === undefined) {
      audit(this.deps.logger, 'login_failure', ctx, {
        username: logged,
        reason: user === undefined ? 'unknown_user' : 'wrong_password',
      });
      throw new HttpError('invalid_credentials');
    }
    // The password was right: the attempt is given back even if the account is blocked.
    await this.limiter(() =>
      this.deps.state.loginLimiter.recordSuccess(limiterKey, ctx.address).then(() => ok),
    );
    const blocked = await this.deps.state.blocklist.blockedReason(username);
    if (blocked !== undefined) {
      audit(this.deps.logger, 'login_blocked', ctx, { username });
      throw new HttpError('blocked');
    }
    const family = randomId(16);
    const refreshToken = randomId(32);
    await this.deps.state.refreshTokens.createFamily(
      family,
      username,
      sha256(refreshToken),
      this.deps.refreshTokenTtlS,
    );
    const pair = await this.issuePair(username, family, refreshToken, ctx);
    audit(this.deps.logger, 'login_success', ctx, { username, family });
    return pair;
  }

  async refresh(refreshToken: string, ctx: AuditContext): Promise<TokenPair> {
    try {
      const pair = await this.exchange(refreshToken, ctx);
      this.metrics.refresh('ok');
      return pair;
    } catch (err) {
      if (!(err instanceof HttpError)) this.metrics.refresh('error');
      throw err;
    }
  }

  /** A refresh; every refusal is counted where it is decided, an unexpected error by `refresh`. */
  private async exchange(refreshToken: string, ctx: AuditContext): Promise<TokenPair> {
    const next = randomId(32);
    const result = await this.deps.state.refreshTokens.rotate(
      sha256(refreshToken),
      sha256(next),
      this.deps.refreshTokenTtlS,
    );
    if (result.kind === 'invalid') {
      this.metrics.refresh('invalid');
      audit(this.deps.logger, 'refresh_failure', ctx, { reason: 'unknown_or_expired' });
      throw new HttpError('invalid_grant');
    }
    if (result.kind === 'revoked') {
      this.metrics.refresh('revoked');
      audit(this.deps.logger, 'refresh_failure', ctx, {
        reason: 'family_revoked',
        username: result.username,
        family: result.family,
      });
      throw new HttpError('invalid_grant');
    }
    if (result.kind === 'reused') {
      this.metrics.refresh('reused');
      const revoked = await this.revokeFamily(result.family, 'refresh_reuse');
      audit(this.deps.logger, 'refresh_reuse', ctx, {
        username: result.username,
        family: result.family,
        revoked_access_count: revoked.length,
      });
      throw new HttpError('invalid_grant');
    }
    // "Revoke every token of the user" covers refresh families begun before it.
    const cutoff = await this.deps.state.revocations.revokedBefore(result.username);
    if (cutoff !== undefined && result.createdAt <= cutoff) {
      this.metrics.refresh('user_revoked');
      await this.revokeFamily(result.family, 'revoked_all');
      audit(this.deps.logger, 'refresh_failure', ctx, {
        reason: 'user_tokens_revoked',
        username: result.username,
        family: result.family,
      });
      throw new HttpError('invalid_grant');
    }
    const blocked = await this.deps.state.blocklist.blockedReason(result.username);
    if (blocked !== undefined) {
      this.metrics.refresh('blocked');
      await this.revokeFamily(result.family, 'blocked');
      audit(this.deps.logger, 'login_blocked', ctx, { username: result.username, family: result.family });
      throw new HttpError('blocked');
    }
    const pair = await this.issuePair(result.username, result.family, next, ctx).catch((err: unknown) => {
      // The family was revoked between the rotation and now.
      if (err instanceof HttpError) this.metrics.refresh('revoked');
      throw err;
    });
    audit(this.deps.logger, 'refresh', ctx, { username: result.username, family: result.family });
    return pair;
  }

  async logout(claims: AccessClaims, ctx: AuditContext): Promise<void> {
    await this.deps.state.revocations.revoke(claims.jti, claims.exp, 'logout');
    const revoked = claims.fam !== undefined ? await this.revokeFamily(claims.fam, 'logout') : [];
    audit(this.deps.logger, 'logout', ctx, {
      username: claims.sub,
      jti: claims.jti,
      family: claims.fam,
      revoked_access_count: new Set([claims.jti, ...revoked]).size,
    });
  }

  /** Verifies a bearer token and checks it is not revoked. */
  async authenticate(token: string | undefined, ctx: AuditContext): Promise<AccessClaims> {
    let claims: AccessClaims;
    try {
      claims = this.deps.verifier.verify(token);
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      audit(this.deps.logger, 'token_refused', ctx, { reason: err.code });
      throw new HttpError('invalid_token', { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
    if (await this.deps.state.revocations.isRevoked(claims)) {
      audit(this.deps.logger, 'token_refused', ctx, {
        reason: 'revoked',
        username: claims.sub,
        jti: claims.jti,
      });
      throw new HttpError('invalid_token', { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
    return claims;
  }

  private async issuePair(
    username: string,
    family: string,
    refreshToken: string,
    ctx: AuditContext,
  ): Promise<TokenPair> {
    const access = this.deps.issuer.issue(username, family);
    // A reuse or logout may have revoked the family between the rotation and now; its
    // list of tokens to revoke was read without this one, so it is refused here.
    if (!(await this.deps.state.refreshTokens.recordAccessToken(family, access.jti, access.exp))) {
      await this.deps.state.revocations.revoke(access.jti, access.exp, 'family_revoked');
      audit(this.deps.logger, 'refresh_failure', ctx, { reason: 'family_revoked', username, family });
      throw new HttpError('invalid_grant');
    }
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: refreshToken,
      refresh_expires_in: this.deps.refreshTokenTtlS,
    };
  }

  /** Revokes the family and every access token issued from it; returns their jtis. */
  private async revokeFamily(family: string, reason: string): Promise<string[]> {
    const tokens = await this.deps.state.refreshTokens.revokeFamily(family);
    await Promise.all(tokens.map((t) => this.deps.state.revocations.revoke(t.jti, t.exp, reason)));
    return tokens.map((t) => t.jti);
  }

  /**
   * The login limiter's policy when its store fails: fail closed (503) by default, or
   * fail open (log and allow) when LOGIN_LIMITER_ON_REDIS_ERROR=fail-open.
   */
  private async limiter(work: () => Promise<LoginCheck>): Promise<LoginCheck> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof StateUnavailableError)
        this.metrics.limiterUnavailable(this.deps.limiterOnRedisError);
      if (err instanceof StateUnavailableError && this.deps.limiterOnRedisError === 'fail-open') {
        this.deps.logger.warn('login limiter unavailable, allowing (fail-open policy)');
        return ok;
      }
      throw err;
    }
  }
}

const ok: LoginCheck = { allowed: true };

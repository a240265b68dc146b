import { AuthApi, AuthError, type AccessGrant } from './auth-api';

/**
 * The signed-in user's session in this tab.
 *
 * - The access token lives in this object only (memory): never in localStorage or a
 *   cookie, so nothing outlives the tab but the HttpOnly refresh cookie.
 * - `getToken` is the SDK's token callback. It hands out the current access token while
 *   it has more than half its life left, and otherwise gets a new one from the cookie.
 * - Every tab of the browser shares the one cookie, and the server treats a refresh
 *   token presented twice as stolen (it ends the session). So refreshes are serialised
 *   across tabs with the Web Locks API: the second tab's request carries the cookie the
 *   first one's answer just set.
 * - localStorage keeps only a hint (the username) that a session may exist, so a first
 *   visit goes straight to the login form instead of asking the server.
 * - One browser profile holds one session (one cookie). Logging in as someone else in
 *   another tab replaces it; this tab notices at its next refresh (the token names another
 *   user) and ends, rather than carry on under the other name.
 */
export class Session {
  private grant: { token: string; issuedAt: number; expiresAt: number } | undefined;
  /** Whose session this tab holds: the first token's subject. */
  private user: string | undefined;
  private refreshing: Promise<string> | undefined;
  private ended = false;

  constructor(
    private readonly api: AuthApi,
    /** Called once when the session ends by itself (refresh refused): show the login form. */
    private readonly onEnded: (reason: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The user a previous visit left signed in, if any (a hint, not a proof). */
  static hint(): string | undefined {
    try {
      return localStorage.getItem(HINT_KEY) ?? undefined;
    } catch {
      return undefined;
    }
  }

  /** Restores the session of a previous visit from the cookie. */
  static async resume(api: AuthApi, onEnded: (reason: string) => void): Promise<Session> {
    const session = new Session(api, onEnded);
    await session.refresh();
    return session;
  }

  static async login(
    api: AuthApi,
    username: string,
    password: string,
    onEnded: (reason: string) => void,
  ): Promise<Session> {
    const session = new Session(api, onEnded);
    session.accept(await api.login(username, password));
    setHint(username.toLowerCase());
    return session;
  }

  /** The SDK's `getToken`. Rejects when the session is over (the SDK then stops trying). */
  readonly getToken = async (): Promise<string> => {
    const grant = this.grant;
    if (grant !== undefined) {
      const half = (grant.expiresAt - grant.issuedAt) / 2;
      if (grant.expiresAt - this.now() > half) return grant.token;
    }
    return this.refresh();
  };

  /** Logs out on the server (revoking this session's tokens) and forgets everything. */
  async logout(): Promise<void> {
    this.ended = true;
    clearHint();
    const token = this.grant?.token;
    this.grant = undefined;
    if (token !== undefined) {
      try {
        await this.api.logout(token);
      } catch {
        // Already over on the server, or unreachable: the cookie expires by itself.
      }
    }
  }

  /** A fresh token from the cookie; one refresh at a time in this tab and across tabs. */
  private refresh(): Promise<string> {
    if (this.ended) return Promise.reject(new AuthError('ended', 401, 'signed out'));
    this.refreshing ??= withLock(() => this.api.refresh())
      .then((grant) => this.accept(grant))
      .catch((err: unknown) => {
        if (err instanceof AuthError && (err.sessionEnded || err.code === 'other_user')) this.end(err);
        throw err;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private accept(grant: AccessGrant): string {
    const subject = tokenSubject(grant.accessToken);
    this.user ??= subject;
    if (subject !== this.user) throw new AuthError('other_user', 401, subject ?? 'someone else');
    const now = this.now();
    this.grant = { token: grant.accessToken, issuedAt: now, expiresAt: now + grant.expiresIn * 1000 };
    return grant.accessToken;
  }

  private end(err: AuthError): void {
    if (this.ended) return;
    this.ended = true;
    this.grant = undefined;
    clearHint();
    this.onEnded(
      err.code === 'blocked'
        ? 'This account is blocked.'
        : err.code === 'other_user'
          ? `Another tab of this browser logged in as ${err.message}. Log in again to continue here.`
          : 'Your session has ended. Please log in again.',
    );
  }
}

const HINT_KEY = 'securechat.user';

/** The `sub` of a JWT, read without verifying it (the server verifies; this only compares). */
function tokenSubject(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as unknown;
    const sub =
      typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>).sub : undefined;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}
const LOCK_NAME = 'securechat.refresh';

function setHint(username: string): void {
  try {
    localStorage.setItem(HINT_KEY, username);
  } catch {
    // Storage disabled: a reload will show the login form first.
  }
}

function clearHint(): void {
  try {
    localStorage.removeItem(HINT_KEY);
  } catch {
    // Nothing stored.
  }
}

/** Runs `work` holding the browser-wide refresh lock (where the Web Locks API exists). */
async function withLock<T>(work: () => Promise<T>): Promise<T> {
  const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
  if (locks === undefined) return work();
  return await locks.request(LOCK_NAME, work);
}

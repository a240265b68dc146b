/**
 * The auth API as the page uses it (docs/AUTH.md, "The browser session"): every call
 * asks for the cookie session, so the refresh token lives in an HttpOnly cookie the
 * page's own script cannot read, and only the short-lived access token reaches memory.
 */

export interface AccessGrant {
  accessToken: string;
  /** Seconds the access token lives, from now. */
  expiresIn: number;
}

/** A refusal the server explained (`{"error", "message"}`), or a network failure (`status` 0). */
export class AuthError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'AuthError';
  }

  /** The session is over for good (not a hiccup worth retrying). */
  get sessionEnded(): boolean {
    return this.code === 'invalid_grant' || this.code === 'blocked' || this.code === 'origin_not_allowed';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class AuthApi {
  constructor(private readonly base = '') {}

  async register(username: string, password: string): Promise<void> {
    await this.post('/auth/register', { username, password });
  }

  async login(username: string, password: string): Promise<AccessGrant> {
    return grant(await this.post('/auth/login', { username, password, session: 'cookie' }));
  }

  /** A new access token from the session cookie (which the server rotates). */
  async refresh(): Promise<AccessGrant> {
    return grant(await this.post('/auth/refresh', { session: 'cookie' }));
  }

  /** Ends the session on the server (its tokens revoked) and in the browser (cookie cleared). */
  async logout(accessToken: string): Promise<void> {
    await this.post('/auth/logout', undefined, { Authorization: `Bearer ${accessToken}` });
  }

  private async post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method: 'POST',
        credentials: 'include',
        headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new AuthError('network', 0, 'The server cannot be reached. Check your connection.');
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      json = undefined;
    }
    if (res.ok) return json;
    const retry = Number(res.headers.get('Retry-After'));
    if (isRecord(json) && typeof json.error === 'string') {
      const message = typeof json.message === 'string' ? json.message : json.error;
      throw new AuthError(json.error, res.status, message, Number.isFinite(retry) ? retry : undefined);
    }
    throw new AuthError(
      'unavailable',
      res.status,
      'The server is not answering properly. Try again shortly.',
    );
  }
}

function grant(json: unknown): AccessGrant {
  if (!isRecord(json) || typeof json.access_token !== 'string' || typeof json.expires_in !== 'number') {
    throw new AuthError('bad_response', 200, 'The server sent an unexpected answer.');
  }
  return { accessToken: json.access_token, expiresIn: json.expires_in };
}

/** What to tell a person about a refusal, in words they can act on. */
export function describeAuthError(err: unknown, action: 'login' | 'register'): string {
  if (!(err instanceof AuthError)) return 'Something went wrong. Try again.';
  switch (err.code) {
    case 'invalid_credentials':
      return 'Wrong username or password.';
    case 'invalid_username':
      return 'A username is 3 to 32 letters, digits, dots, dashes or underscores.';
    case 'invalid_password':
      return 'A password needs at least 8 characters (at most 72 bytes).';
    case 'username_taken':
      return 'That username is taken. Pick another, or log in.';
    case 'too_many_attempts': {
      const wait = err.retryAfterS;
      return wait === undefined
        ? 'Too many failed attempts. Wait a while and try again.'
        : `Too many failed attempts. Try again in ${formatWait(wait)}.`;
    }
    case 'blocked':
      return 'This account is blocked.';
    case 'network':
    case 'unavailable':
      return err.message;
    default:
      return action === 'register' ? 'The account could not be created.' : 'Logging in failed.';
  }
}

function formatWait(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
}

/**
 * The browser session: the refresh token in a cookie that no script can read.
 *
 * - `HttpOnly`: invisible to JavaScript, so an XSS can use the session while the page is
 *   open but cannot carry the refresh token away.
 * - `Secure` and the `__Secure-` prefix: sent over HTTPS only, and only settable by a
 *   secure origin. Chromium treats http://localhost and http://127.0.0.1 as secure
 *   (test/browser checks it), so `npm start` keeps its session; a page served over plain
 *   HTTP from any other host gets no cookie (it works, but a reload asks to log in).
 * - `SameSite=Strict`: never sent on a request another site starts.
 * - `Path=/auth/refresh`: sent to the one endpoint that reads it, and nowhere else (not
 *   to the chat WebSocket, not to the page's own files). Logout clears it by name and
 *   path; it does not need to read it, because the bearer token names the session.
 * - `Max-Age`: the refresh token's remaining life; every refresh renews it.
 */
export const SESSION_COOKIE = '__Secure-securechat_refresh';
export const SESSION_COOKIE_PATH = '/auth/refresh';

const ATTRIBUTES = `Path=${SESSION_COOKIE_PATH}; HttpOnly; Secure; SameSite=Strict`;

/** What a refresh token looks like (base64url); anything else in the cookie is ignored. */
const TOKEN_VALUE = /^[A-Za-z0-9_-]{1,512}$/;

/** The `Set-Cookie` value that stores `refreshToken` for `maxAgeS` seconds. */
export function sessionCookie(refreshToken: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${refreshToken}; ${ATTRIBUTES}; Max-Age=${Math.max(0, Math.floor(maxAgeS))}`;
}

/** The `Set-Cookie` value that deletes the session cookie. */
export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; ${ATTRIBUTES}; Max-Age=0`;
}

/**
 * The refresh token in a `Cookie` header, if there is one of the right shape. Browsers
 * send the most specific path first; only our one path exists, so the first wins.
 */
export function readSessionCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return TOKEN_VALUE.test(value) ? value : undefined;
  }
  return undefined;
}

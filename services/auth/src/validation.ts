import { z } from 'zod';
import { normalizeUsername } from '@securechat/common';
import { HttpError } from './errors';

export const MIN_PASSWORD_CHARS = 8;
/** bcrypt ignores every byte past 72: longer passwords are refused, never truncated. */
export const MAX_PASSWORD_BYTES = 72;

export function passwordAcceptable(password: string): boolean {
  return (
    [...password].length >= MIN_PASSWORD_CHARS && Buffer.byteLength(password, 'utf8') <= MAX_PASSWORD_BYTES
  );
}

/** `"session": "cookie"`: the browser flow, with the refresh token in an HttpOnly cookie. */
const cookieSession = z.literal('cookie');

// Bounds on raw strings keep hostile bodies from costing work; the rules above decide.
const credentials = z.strictObject({
  username: z.string().max(256),
  password: z.string().max(1024),
  session: cookieSession.optional(),
});

const registerShape = z.object({ username: z.unknown(), password: z.unknown() });
const refreshShape = z.union([
  z.strictObject({ refresh_token: z.string().min(1).max(512) }),
  z.strictObject({ session: cookieSession }),
]);

/** Where a refresh token comes from: the JSON body, or the browser's session cookie. */
export type RefreshRequest = { kind: 'body'; refreshToken: string } | { kind: 'cookie' };

function object(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError('invalid_request');
  return body as Record<string, unknown>;
}

export function parseRegister(body: unknown): { username: string; password: string } {
  const shape = registerShape.safeParse(object(body));
  if (!shape.success) throw new HttpError('invalid_request');
  const { username, password } = shape.data;
  const name = typeof username === 'string' ? normalizeUsername(username) : undefined;
  if (name === undefined) throw new HttpError('invalid_username');
  if (typeof password !== 'string' || !passwordAcceptable(password)) throw new HttpError('invalid_password');
  return { username: name, password };
}

export function parseLogin(body: unknown): { username: string; password: string; cookie: boolean } {
  const parsed = credentials.safeParse(object(body));
  if (!parsed.success) throw new HttpError('invalid_request');
  const { username, password, session } = parsed.data;
  return { username, password, cookie: session === 'cookie' };
}

export function parseRefresh(body: unknown): RefreshRequest {
  const parsed = refreshShape.safeParse(object(body));
  if (!parsed.success) throw new HttpError('invalid_request');
  return 'refresh_token' in parsed.data
    ? { kind: 'body', refreshToken: parsed.data.refresh_token }
    : { kind: 'cookie' };
}

/**
 * The HTTP error catalogue: every error an auth node returns is one of these, as
 * `{"error": code, "message": text}`. Messages are fixed text: they never echo input.
 */
export const HTTP_ERRORS = {
  invalid_request: { status: 400, message: 'the request body does not have the expected shape' },
  invalid_json: { status: 400, message: 'the request body is not valid JSON' },
  invalid_username: { status: 400, message: 'a username is 3 to 32 of A-Z a-z 0-9 _ . -' },
  invalid_password: { status: 400, message: 'a password is 8 characters to 72 UTF-8 bytes' },
  invalid_credentials: { status: 401, message: 'wrong username or password' },
  invalid_grant: { status: 401, message: 'the refresh token is not valid' },
  invalid_token: { status: 401, message: 'the access token is missing, invalid, expired or revoked' },
  blocked: { status: 403, message: 'this account is blocked' },
  origin_not_allowed: { status: 403, message: 'this origin may not use the auth API from a browser' },
  not_found: { status: 404, message: 'no such endpoint' },
  username_taken: { status: 409, message: 'that username is taken' },
  payload_too_large: { status: 413, message: 'the request body is too large' },
  unsupported_media_type: { status: 415, message: 'request bodies must be application/json' },
  too_many_attempts: { status: 429, message: 'too many attempts; retry later' },
  internal: { status: 500, message: 'internal error' },
  unavailable: { status: 503, message: 'a backing service is unavailable; retry shortly' },
  not_ready: { status: 503, message: 'not ready' },
} as const satisfies Record<string, { status: number; message: string }>;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

export class HttpError extends Error {
  readonly status: number;

  constructor(
    readonly code: HttpErrorCode,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(HTTP_ERRORS[code].message);
    this.name = 'HttpError';
    this.status = HTTP_ERRORS[code].status;
  }

  body(): { error: HttpErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}

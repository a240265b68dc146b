import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { clientAddress, type TrustList } from '@securechat/common';
import { TokenError, type AccessClaims, type TokenVerifier } from '@securechat/tokens';
import { HANDSHAKE, type HandshakeRefusal } from './codes';

export const SUBPROTOCOL = 'chat.v1';
const BEARER_PROTOCOL = 'bearer.';

export interface Credentials {
  token: string | undefined;
  method: 'header' | 'subprotocol' | 'query' | 'none';
  /** The subprotocols offered, when any. */
  protocols: string[];
}

/**
 * The query string's token, read from the raw query as sent. Only a parameter literally
 * named `token` is one; a query with a percent-encoded parameter name (`?%74oken=`, which
 * a decoding parser would take for `token`) or with two `token`s is refused: a proxy or a
 * log filter in front sees other names than a decoding parser would, and a token could
 * pass where they look for none (docs/PROTOCOL.md, docs/DEPLOY.md).
 */
export function queryToken(
  rawUrl: string,
): { ok: true; token: string | undefined } | { ok: false; reason: 'query_encoding' | 'query_duplicate' } {
  const start = rawUrl.indexOf('?');
  if (start < 0) return { ok: true, token: undefined };
  let token: string | undefined;
  for (const pair of rawUrl.slice(start + 1).split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = equals < 0 ? pair : pair.slice(0, equals);
    if (name.includes('%')) return { ok: false, reason: 'query_encoding' };
    if (name !== 'token') continue;
    if (token !== undefined) return { ok: false, reason: 'query_duplicate' };
    const raw = equals < 0 ? '' : pair.slice(equals + 1).replace(/\+/g, ' ');
    try {
      token = decodeURIComponent(raw);
    } catch {
      // Not a valid encoding: a token that cannot verify, refused like any malformed one.
      token = raw;
    }
  }
  return { ok: true, token };
}

/** Where the token came from: header, then `bearer.<token>` subprotocol, then `?token=`. */
export function extractCredentials(req: IncomingMessage, query: string | undefined): Credentials {
  const protocols = (req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(auth.trim());
    return { token: match?.[1] ?? '', method: 'header', protocols };
  }
  const offered = protocols.find((p) => p.startsWith(BEARER_PROTOCOL));
  if (offered !== undefined)
    return { token: offered.slice(BEARER_PROTOCOL.length), method: 'subprotocol', protocols };
  if (query !== undefined) return { token: query, method: 'query', protocols };
  return { token: undefined, method: 'none', protocols };
}

export interface OriginPolicy {
  allowed: ReadonlySet<string>;
  allowMissing: boolean;
}

/** Exact match only: no suffix, prefix or case-insensitive comparison of origins. */
export function originAllowed(policy: OriginPolicy, origin: string | undefined): boolean {
  if (origin === undefined || origin === '') return policy.allowMissing;
  return policy.allowed.has(origin);
}

export type Verdict =
  | { ok: true; claims: AccessClaims; address: string; method: Credentials['method'] }
  | { ok: false; refusal: HandshakeRefusal; reason: string; address: string; user?: string };

export interface HandshakeChecks {
  origins: OriginPolicy;
  trustProxy: TrustList;
  verifier: TokenVerifier;
  /** ALLOW_QUERY_TOKEN: whether `?token=` is a way to present the token. */
  allowQueryToken: boolean;
}

/** The synchronous checks (path, origin, token), in the order the contract implies. */
export function checkRequest(req: IncomingMessage, checks: HandshakeChecks): Verdict {
  const address = clientAddress(checks.trustProxy, req.socket.remoteAddress, req.headers['x-forwarded-for']);
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return { ok: false, refusal: HANDSHAKE.badRequest, reason: 'bad_url', address };
  }
  if (url.pathname !== '/ws') return { ok: false, refusal: HANDSHAKE.notFound, reason: 'path', address };
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    return { ok: false, refusal: HANDSHAKE.badRequest, reason: 'not_websocket', address };
  }
  if (!originAllowed(checks.origins, req.headers.origin)) {
    return { ok: false, refusal: HANDSHAKE.originRefused, reason: 'origin', address };
  }
  const query = queryToken(req.url ?? '/');
  if (!query.ok) return { ok: false, refusal: HANDSHAKE.badRequest, reason: query.reason, address };
  if (query.token !== undefined && !checks.allowQueryToken) {
    return { ok: false, refusal: HANDSHAKE.invalidToken, reason: 'query_token_disabled', address };
  }
  const credentials = extractCredentials(req, query.token);
  const others = credentials.protocols.filter((p) => !p.startsWith(BEARER_PROTOCOL));
  if (credentials.protocols.length > 0 && !others.includes(SUBPROTOCOL)) {
    return { ok: false, refusal: HANDSHAKE.badRequest, reason: 'subprotocol', address };
  }
  if (credentials.token === undefined) {
    return { ok: false, refusal: HANDSHAKE.invalidToken, reason: 'no_token', address };
  }
  try {
    const claims = checks.verifier.verify(credentials.token);
    return { ok: true, claims, address, method: credentials.method };
  } catch (err) {
    const reason = err instanceof TokenError ? `token_${err.code}` : 'token_invalid';
    return { ok: false, refusal: HANDSHAKE.invalidToken, reason, address };
  }
}

/**
 * Writes an HTTP error response on the raw socket (never a 101) and closes it. `fields`
 * adds to the JSON body (a shed handshake's `retry_after_ms`).
 */
export function refuse(
  socket: Duplex,
  refusal: HandshakeRefusal,
  headers: Record<string, string> = {},
  fields: Record<string, number> = {},
): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({
    error: refusal.error,
    message: STATUS_CODES[refusal.status] ?? 'refused',
    ...fields,
  });
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      extra +
      '\r\n' +
      body,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

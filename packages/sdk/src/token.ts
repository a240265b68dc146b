/**
 * Reads a JWT's `exp` (seconds since the epoch) without verifying it: the client only
 * needs to know when to refresh; the server is the one that verifies. Undefined when the
 * token is not a JWT or carries no numeric `exp`.
 */
export function tokenExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  const exp = (payload as Record<string, unknown>)['exp'];
  return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
}

/**
 * When to refresh a token expiring at `expSeconds`: `aheadMs` before expiry, but never
 * earlier than halfway through its remaining life, so that a short-lived token (the
 * contract allows 5 s) is not refreshed in a tight loop.
 */
export function refreshDelay(expSeconds: number, nowMs: number, aheadMs: number): number {
  const remaining = expSeconds * 1000 - nowMs;
  if (remaining <= 0) return 0;
  return Math.max(remaining - aheadMs, remaining / 2);
}

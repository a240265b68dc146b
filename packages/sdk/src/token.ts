/** Decodes base64url to text with the platform's `atob` (Node 16+ and every browser). */
function base64urlText(part: string): string {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

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
    payload = JSON.parse(base64urlText(parts[1]));
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

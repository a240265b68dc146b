import { systemClock, type Clock } from './clock';
import type { TokenMethod } from './connection';

export interface ReconnectOptions {
  /** Reconnect after an unexpected close. Default true. */
  enabled?: boolean;
  /** Upper bound of the first retry's delay. Default 500 ms. */
  baseDelayMs?: number;
  /** No retry waits longer than this. Default 30 000 ms. */
  maxDelayMs?: number;
  /** Consecutive failed attempts after which the client gives up and closes. Default Infinity. */
  maxAttempts?: number;
  /** A connection that lasted this long restarts the backoff schedule when it drops. Default 10 000 ms. */
  stableAfterMs?: number;
}

/** The options of both builds (the Node build adds `origin`, `ca` and `rejectUnauthorized`). */
export interface CommonChatClientOptions {
  /**
   * `ws://` or `wss://` URL of the chat endpoint (path `/ws`). With several, the first
   * connection goes to the first, and every reconnect attempt to one drawn at random
   * from the others than the last one tried.
   */
  url: string | readonly string[];
  /**
   * Returns a currently valid access token. Called for the first connection, for every
   * token refresh, and for a reconnect attempt only when the token held has no more than
   * `refreshAheadMs` left to live or the server refused or ended it (401, `token_expired`).
   */
  getToken: () => Promise<string>;
  /**
   * How the token travels: a `bearer.<token>` subprotocol (the browser default),
   * `Authorization: Bearer` header (the Node default; Node only), or `?token=`.
   */
  tokenMethod?: TokenMethod;
  reconnect?: ReconnectOptions;
  /** Refresh the token on the live connection this long before it expires. Default 60 000 ms. */
  refreshAheadMs?: number;
  /** Whether to refresh tokens on the live connection at all. Default true. */
  tokenRefresh?: boolean;
  /** From the dial to `welcome`. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** How long a request waits for its reply. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /**
   * Before a `join` without `since`, ask for the room's newest id and join from it, so
   * that a room in which nothing has arrived yet still has a point to resume from after a
   * reconnect. Costs one `history` request per such join. Default true.
   */
  anchorJoins?: boolean;
  /**
   * How long an `offline` is held back before it is reported; an `online` of the same
   * user and room within it cancels both, so a brief reconnect does not flap. 0 reports
   * every change at once. Default 5000 ms.
   */
  presenceGraceMs?: number;
  /**
   * After a reconnect, catch up DM rooms the client is not joined to (those it has seen,
   * and, once `conversations()` was called, those that appear there): at most this many
   * messages per room, read back through `history`. 0 turns the catch-up off. Default 1000.
   */
  dmCatchUpLimit?: number;
  /** Time source; tests inject a manual one. */
  clock?: Clock;
  /** Uniform [0, 1) source for backoff jitter; tests inject a fixed one. */
  random?: () => number;
}

/** Options with every default filled in and checked. */
export interface ResolvedOptions {
  urls: readonly string[];
  getToken: () => Promise<string>;
  tokenMethod: TokenMethod;
  reconnect: Required<ReconnectOptions>;
  refreshAheadMs: number;
  tokenRefresh: boolean;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  anchorJoins: boolean;
  presenceGraceMs: number;
  dmCatchUpLimit: number;
  clock: Clock;
  random: () => number;
}

/** What differs between the builds' defaults. */
export interface PlatformDefaults {
  tokenMethod: TokenMethod;
  tokenMethods: readonly TokenMethod[];
}

export function resolveOptions(o: CommonChatClientOptions, platform: PlatformDefaults): ResolvedOptions {
  const urls = typeof o.url === 'string' ? [o.url] : [...o.url];
  if (urls.length === 0) throw new TypeError('url: at least one URL is required');
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new TypeError(`url: not a URL: ${u}`);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new TypeError(`url: must be ws:// or wss://, got ${parsed.protocol}`);
    }
  }
  const r = o.reconnect ?? {};
  const resolved: ResolvedOptions = {
    urls,
    getToken: o.getToken,
    tokenMethod: o.tokenMethod ?? platform.tokenMethod,
    reconnect: {
      enabled: r.enabled ?? true,
      baseDelayMs: r.baseDelayMs ?? 500,
      maxDelayMs: r.maxDelayMs ?? 30_000,
      maxAttempts: r.maxAttempts ?? Infinity,
      stableAfterMs: r.stableAfterMs ?? 10_000,
    },
    refreshAheadMs: o.refreshAheadMs ?? 60_000,
    tokenRefresh: o.tokenRefresh ?? true,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    requestTimeoutMs: o.requestTimeoutMs ?? 10_000,
    anchorJoins: o.anchorJoins ?? true,
    presenceGraceMs: o.presenceGraceMs ?? 5000,
    dmCatchUpLimit: o.dmCatchUpLimit ?? 1000,
    clock: o.clock ?? systemClock,
    random: o.random ?? Math.random,
  };
  const { baseDelayMs, maxDelayMs, maxAttempts } = resolved.reconnect;
  if (!(baseDelayMs >= 0 && maxDelayMs >= baseDelayMs)) {
    throw new RangeError('reconnect: need 0 <= baseDelayMs <= maxDelayMs');
  }
  if (!(maxAttempts >= 0)) throw new RangeError('reconnect.maxAttempts must be >= 0');
  if (!(resolved.presenceGraceMs >= 0)) throw new RangeError('presenceGraceMs must be >= 0');
  if (!(resolved.dmCatchUpLimit >= 0)) throw new RangeError('dmCatchUpLimit must be >= 0');
  if (!platform.tokenMethods.includes(resolved.tokenMethod)) {
    throw new TypeError(`tokenMethod must be ${platform.tokenMethods.join(', ')}`);
  }
  return resolved;
}

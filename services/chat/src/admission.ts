import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { ChatState } from '@securechat/state';
import type { AccessClaims } from '@securechat/tokens';
import { HANDSHAKE, type HandshakeRefusal } from './codes';
import type { Verdict } from './handshake';

export interface AdmissionOptions {
  maxConnectionsPerUser: number;
  maxConnectionsPerAddress: number;
  maxHandshakesPerAddressPerMin: number;
}

/** A handshake that passed every check: what the new session is made of. */
export interface Admitted {
  readonly ok: true;
  readonly session: string;
  readonly claims: AccessClaims;
  readonly address: string;
  readonly method: string;
}

export interface Refused {
  readonly ok: false;
  readonly refusal: HandshakeRefusal;
  readonly reason: string;
  readonly user?: string | undefined;
  /** Whether the refusal belongs in the audit trail (a wrong path does not). */
  readonly audited: boolean;
}

export type AdmissionResult = Admitted | Refused;

export interface GateOptions {
  /** The longest a handshake should wait to be decided; 0: never shed. */
  maxWaitMs: number;
  /** Handshakes always taken at once, whatever the measured pace (after a quiet spell it is unknown). */
  minPending: number;
  /** Past this event-loop delay, handshakes beyond LAG_FREE_PENDING are shed too. */
  maxLagMs: number;
}

/** Handshakes taken at once however late the loop runs, so that a node always makes progress. */
const LAG_FREE_PENDING = 16;

/** Completions are counted in buckets of this length; the pace is read over all of them. */
const PACE_BUCKET_MS = 500;
const PACE_BUCKETS = 4;

/**
 * The handshakes this node is deciding at once: from the upgrade request to the 101 (token
 * verification, the Redis round trips of admission, the user's channel). In a reconnect
 * storm, thousands arrive within a second; deciding them all only queues the last ones
 * past their clients' patience (they time out, retry, and the work is done twice). The
 * gate takes as many as the node decides in `maxWaitMs` at its pace over the last two
 * seconds, and at least `minPending`; beyond that a handshake is shed before any work: the
 * node answers 503 `overloaded` with a retry hint, and the client comes back later,
 * preferably to another node. A burst the node can get through in time is not shed. A
 * node whose event loop runs more than `maxLagMs` late (it is behind on everything, the
 * work after the handshake included) sheds new handshakes too, beyond a few.
 */
export class HandshakeGate {
  private pending = 0;
  private shedSince = 0;
  /** Handshakes decided per bucket, a ring; `bucketStart` is when the current one began. */
  private readonly done = new Array<number>(PACE_BUCKETS).fill(0);
  private current = 0;
  private bucketStart: number;

  constructor(
    private readonly options: GateOptions,
    private readonly now: () => number = Date.now,
    private readonly lagMs: () => number = () => 0,
  ) {
    this.bucketStart = now();
  }

  /** Takes a slot for one handshake; false (nothing taken) when it must be shed. */
  enter(): boolean {
    if (this.options.maxWaitMs > 0 && (this.pending >= this.bound() || this.lagging())) {
      this.shedSince += 1;
      return false;
    }
    this.pending += 1;
    return true;
  }

  /** Gives back the slot of a handshake that was decided (admitted, refused or failed). */
  leave(): void {
    if (this.pending > 0) this.pending -= 1;
    this.advance();
    this.done[this.current] = (this.done[this.current] ?? 0) + 1;
  }

  get inProgress(): number {
    return this.pending;
  }

  /** Handshakes decided per second, over the last PACE_BUCKETS buckets. */
  pace(): number {
    this.advance();
    const total = this.done.reduce((a, b) => a + b, 0);
    return total / ((PACE_BUCKETS * PACE_BUCKET_MS) / 1000);
  }

  /** How many may be in progress now. */
  bound(): number {
    return Math.max(this.options.minPending, Math.floor((this.pace() * this.options.maxWaitMs) / 1000));
  }

  private lagging(): boolean {
    return this.pending >= LAG_FREE_PENDING && this.lagMs() > this.options.maxLagMs;
  }

  /** Handshakes shed since the last call (for a periodic log line). */
  takeShed(): number {
    const n = this.shedSince;
    this.shedSince = 0;
    return n;
  }

  private advance(): void {
    const now = this.now();
    let steps = Math.floor((now - this.bucketStart) / PACE_BUCKET_MS);
    if (steps <= 0) return;
    this.bucketStart += steps * PACE_BUCKET_MS;
    for (steps = Math.min(steps, PACE_BUCKETS); steps > 0; steps--) {
      this.current = (this.current + 1) % PACE_BUCKETS;
      this.done[this.current] = 0;
    }
  }
}

const refused = (refusal: HandshakeRefusal, reason: string, user?: string): Refused => ({
  ok: false,
  refusal,
  reason,
  user,
  audited: true,
});

/**
 * Who may open a WebSocket on this node, after the synchronous request checks: the
 * handshake rate per address, the per-address connection count (this node), the
 * revocation and block lists, and the per-user connection cap (the whole cluster).
 * An admitted session holds an address slot and a registry entry until `release`.
 */
export class Admission {
  private readonly handshakes: RateLimiterMemory;
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly options: AdmissionOptions,
    private readonly state: Pick<ChatState, 'revocations' | 'blocklist' | 'registry'>,
  ) {
    this.handshakes = new RateLimiterMemory({ points: options.maxHandshakesPerAddressPerMin, duration: 60 });
  }

  /** Decides on one handshake; `session` is the id the session will have if admitted. */
  async admit(verdict: Verdict, session: string): Promise<AdmissionResult> {
    const { options, state } = this;
    const address = verdict.address;
    if (!verdict.ok && verdict.refusal.status === 404) {
      return { ok: false, refusal: verdict.refusal, reason: verdict.reason, audited: false };
    }
    // Every attempt past the path check counts, refused ones too.
    try {
      await this.handshakes.consume(address);
    } catch {
      return refused(HANDSHAKE.tooManyHandshakes, 'handshake_rate');
    }
    if (!verdict.ok) return refused(verdict.refusal, verdict.reason, verdict.user);
    const { claims } = verdict;
    if (this.connectionsFrom(address) >= options.maxConnectionsPerAddress) {
      return refused(HANDSHAKE.tooManyConnections, 'address_cap', claims.sub);
    }
    let revoked: boolean;
    let blocked: string | undefined;
    try {
      [revoked, blocked] = await Promise.all([
        state.revocations.isRevoked(claims),
        state.blocklist.blockedReason(claims.sub),
      ]);
    } catch {
      // Fail closed: without the revocation and block lists nobody is let in.
      return refused(HANDSHAKE.unavailable, 'state_unavailable', claims.sub);
    }
    if (revoked) return refused(HANDSHAKE.invalidToken, 'token_revoked', claims.sub);
    if (blocked !== undefined) return refused(HANDSHAKE.blocked, 'blocked', claims.sub);
    // Counted before the async registry call so parallel handshakes cannot overshoot.
    this.perAddress.set(address, this.connectionsFrom(address) + 1);
    let acquired: boolean;
    try {
      acquired = await state.registry.acquire(claims.sub, session, options.maxConnectionsPerUser);
    } catch {
      this.releaseAddress(address);
      return refused(HANDSHAKE.unavailable, 'state_unavailable', claims.sub);
    }
    if (!acquired) {
      this.releaseAddress(address);
      return refused(HANDSHAKE.tooManyConnections, 'user_cap', claims.sub);
    }
    return { ok: true, session, claims, address, method: verdict.method };
  }

  /** Gives back what an admitted session held (its address slot, its registry entry). */
  async release(admitted: Pick<Admitted, 'session' | 'address'> & { user: string }): Promise<void> {
    this.releaseAddress(admitted.address);
    await this.state.registry.release(admitted.user, admitted.session).catch(() => undefined);
  }

  /** Open connections from `address` on this node. */
  connectionsFrom(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  private releaseAddress(address: string): void {
    const n = this.connectionsFrom(address) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
  }
}

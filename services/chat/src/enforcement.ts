import type { Logger } from '@securechat/common';
import type { ChatState, EnforcementEvent } from '@securechat/state';
import type { AccessClaims } from '@securechat/tokens';
import type { Audit, SessionCloseEvent } from './audit';
import { CLOSE, type CloseCode } from './codes';
import { Expiries } from './expiries';
import type { Hub } from './hub';
import { noChatMetrics, type ChatMetrics } from './metrics';
import type { Session } from './session';

export interface EnforcementDeps {
  hub: Hub;
  state: Pick<ChatState, 'revocations' | 'blocklist'>;
  audit: Audit;
  logger: Logger;
  /** Tolerance after a token's exp before the connection is closed. */
  expiryToleranceMs: number;
  metrics?: ChatMetrics;
}

/** How many revalidation checks are in flight at once: written to Redis together. */
const REVALIDATE_CHUNK = 200;

/**
 * What ends sessions on this node for security reasons: token expiry, revocations and
 * blocks announced anywhere in the cluster, an automatic block decided here, and the
 * periodic revalidation that catches what a lost announcement missed.
 */
export class Enforcement {
  private readonly metrics: ChatMetrics;
  /** The sessions' token expiries, on one timer for the node. */
  private readonly expiries: Expiries<Session>;

  constructor(private readonly deps: EnforcementDeps) {
    this.metrics = deps.metrics ?? noChatMetrics();
    this.expiries = new Expiries(deps.expiryToleranceMs, (s, exp) => {
      // A session whose token was renewed meanwhile is due later, under its new exp.
      if (s.claims.exp <= exp) this.end(s, CLOSE.tokenExpired, 'token_expired');
    });
  }

  /**
   * Closes the session with 1008 token_expired once its token (plus tolerance) expires;
   * after a renewal, `previousExp` is the replaced token's, whose deadline no longer holds.
   */
  watchExpiry(session: Session, previousExp?: number): void {
    if (previousExp !== undefined) this.expiries.delete(session, previousExp);
    if (!session.closed) this.expiries.add(session, session.claims.exp);
  }

  /** The session was released: its expiry no longer concerns the node. */
  forget(session: Session): void {
    this.expiries.delete(session, session.claims.exp);
  }

  /** Stops the expiry timer (the node is closing). */
  close(): void {
    this.expiries.close();
  }

  /** Closes one session with `close`, recording `event` in the audit trail. */
  end(session: Session, close: CloseCode, event: SessionCloseEvent): void {
    if (session.closed) return;
    this.deps.audit.record(event, { username: session.user, session: session.id, address: session.address });
    this.metrics.closed(close.reason);
    session.close(close);
  }

  /** Closes every local session of a user (a block); returns how many. */
  kickUser(user: string): number {
    const sessions = this.deps.hub.sessionsOf(user);
    for (const s of sessions) this.end(s, CLOSE.blocked, 'kicked_blocked');
    return sessions.length;
  }

  /** Acts on a revocation or block announced anywhere in the cluster. */
  onEvent(event: EnforcementEvent): void {
    const { audit } = this.deps;
    this.metrics.enforcement(event.kind);
    switch (event.kind) {
      case 'blocked': {
        audit.record('block_seen', { username: event.user, sessions_closed: this.kickUser(event.user) });
        return;
      }
      case 'unblocked':
        audit.record('unblock_seen', { username: event.user });
        return;
      case 'revoked': {
        const n = this.kickTokens((c) => c.jti === event.jti);
        if (n > 0) audit.record('revocation_seen', { jti: event.jti, sessions_closed: n });
        return;
      }
      case 'revoked_all': {
        const now = Date.now();
        const n = this.kickTokens((c) => c.sub === event.user && c.iat * 1000 <= now);
        audit.record('revocation_seen', { username: event.user, scope: 'all_of_user', sessions_closed: n });
        return;
      }
      default: {
        const unreachable: never = event;
        this.deps.logger.warn('unknown enforcement event', { event: unreachable });
      }
    }
  }

  /**
   * Rechecks sessions against revocations and blocks, so a missed notification cannot
   * leave one open for long. A Redis failure ends the round; the next one tries again.
   */
  async revalidate(sessions: readonly Session[]): Promise<void> {
    const { state } = this.deps;
    for (let i = 0; i < sessions.length; i += REVALIDATE_CHUNK) {
      const chunk = sessions.slice(i, i + REVALIDATE_CHUNK).filter((s) => !s.closed);
      try {
        await Promise.all(
          chunk.map(async (session) => {
            const [revoked, blocked] = await Promise.all([
              state.revocations.isRevoked(session.claims),
              state.blocklist.blockedReason(session.user),
            ]);
            if (blocked !== undefined) this.end(session, CLOSE.blocked, 'kicked_blocked');
            else if (revoked) this.end(session, CLOSE.tokenRevoked, 'kicked_revoked');
          }),
        );
      } catch {
        return;
      }
    }
  }

  /** Closes local sessions whose token matches (a revocation); returns how many. */
  private kickTokens(test: (claims: AccessClaims) => boolean): number {
    let n = 0;
    for (const s of this.deps.hub.sessions) {
      if (test(s.claims)) {
        this.end(s, CLOSE.tokenRevoked, 'kicked_revoked');
        n += 1;
      }
    }
    return n;
  }
}

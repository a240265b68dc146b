import type { Logger } from '@securechat/common';

/** The fields that name one session in the audit trail. */
export interface SessionRef {
  username: string;
  session: string;
  address: string;
}

/**
 * Every audit event a chat node writes, with its fields. Each is one JSON log line with
 * `audit: true`, `event` and `node`; docs/OPERATIONS.md (audit log) lists them for
 * operators.
 */
export interface AuditEvents {
  connected: SessionRef & { method: string; jti: string };
  handshake_refused: {
    reason: string;
    status: number;
    address: string;
    session: string;
    username?: string | undefined;
  };
  heartbeat_timeout: SessionRef;
  slow_consumer: SessionRef;
  token_expired: SessionRef;
  kicked_blocked: SessionRef;
  kicked_revoked: SessionRef;
  token_refresh_refused: SessionRef & { reason: string };
  /** An automatic block decided by this node's send. */
  blocked: { username: string; reason: string; violations: number };
  block_seen: { username: string; sessions_closed: number };
  unblock_seen: { username: string };
  revocation_seen:
    | { jti: string; sessions_closed: number }
    | { username: string; scope: 'all_of_user'; sessions_closed: number };
  /** One line per user per period instead of one per refused message. */
  rate_limited: { username: string; rejected: number; period_s: number };
}

export type AuditEvent = keyof AuditEvents;

/** Events that close a session, with the session's fields. */
export type SessionCloseEvent = {
  [E in AuditEvent]: AuditEvents[E] extends SessionRef
    ? SessionRef extends AuditEvents[E]
      ? E
      : never
    : never;
}[AuditEvent];

const SUMMARY_PERIOD_S = 10;

/** The chat node's audit trail: typed events, and the summary of rate-limited messages. */
export class Audit {
  private readonly rateLimitedCounts = new Map<string, number>();
  private readonly summaryTimer: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    private readonly nodeId: string,
  ) {
    this.summaryTimer = setInterval(() => this.flush(), SUMMARY_PERIOD_S * 1000);
    this.summaryTimer.unref();
  }

  record<E extends AuditEvent>(event: E, fields: AuditEvents[E]): void {
    this.logger.info(event, { audit: true, event, node: this.nodeId, ...fields });
  }

  /** Counts a refused message; the count goes out in the next summary line. */
  rateLimited(user: string): void {
    this.rateLimitedCounts.set(user, (this.rateLimitedCounts.get(user) ?? 0) + 1);
  }

  flush(): void {
    for (const [username, rejected] of this.rateLimitedCounts) {
      this.record('rate_limited', { username, rejected, period_s: SUMMARY_PERIOD_S });
    }
    this.rateLimitedCounts.clear();
  }

  close(): void {
    clearInterval(this.summaryTimer);
    this.flush();
  }
}

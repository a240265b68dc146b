import { StateUnavailableError } from '@securechat/state';
import { TokenError } from '@securechat/tokens';
import type { ChatNode, ChatNodeDeps } from './chat-node';
import { CLOSE, type ErrorCode } from './codes';
import {
  dmRoom,
  frame,
  HISTORY_DEFAULT_LIMIT,
  parseClientMessage,
  roomAccess,
  type ClientMessage,
} from './protocol';
import type { Session } from './session';

type Msg<T extends ClientMessage['type']> = Extract<ClientMessage, { type: T }>;

/** Request/reply handling of one session's frames; one method per message type. */
export class RequestHandler {
  /** Rate-limited messages are summarised in the audit log, not logged one by one. */
  private readonly rateLimitedCounts = new Map<string, number>();
  private readonly summaryTimer: NodeJS.Timeout;

  constructor(
    private readonly node: ChatNode,
    private readonly deps: ChatNodeDeps,
  ) {
    this.summaryTimer = setInterval(() => this.flushRateLimitedSummary(), 10_000);
    this.summaryTimer.unref();
  }

  close(): void {
    clearInterval(this.summaryTimer);
    this.flushRateLimitedSummary();
  }

  async handle(session: Session, text: string): Promise<void> {
    if (session.closed) return;
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.error(session, 'bad_request', parsed.reason, parsed.ref);
      return;
    }
    const message = parsed.message;
    // send and dm are governed by the cluster-wide message limit; the rest by a local budget.
    if (message.type !== 'send' && message.type !== 'dm' && !session.takeRequestToken()) {
      this.error(session, 'rate_limited', 'too many requests', message.ref, { retry_after_ms: 1000 });
      return;
    }
    try {
      await this.dispatch(session, message);
    } catch (err) {
      const unavailable = err instanceof StateUnavailableError;
      if (!unavailable)
        this.node.logger.error('request failed', { type: message.type, session: session.id, err });
      this.error(
        session,
        'internal',
        unavailable ? 'temporarily unavailable, retry' : 'internal error',
        message.ref,
      );
    }
  }

  private dispatch(session: Session, message: ClientMessage): Promise<void> {
    switch (message.type) {
      case 'join':
        return this.join(session, message);
      case 'leave':
        return this.leave(session, message);
      case 'send':
        return this.send(session, message);
      case 'dm':
        return this.dm(session, message);
      case 'history':
        return this.history(session, message);
      case 'refresh_token':
        return this.refreshToken(session, message);
      case 'ping':
        this.reply(session, { type: 'pong' }, message.ref);
        return Promise.resolve();
      default: {
        const unreachable: never = message;
        return Promise.reject(new Error(`unhandled ${String(unreachable)}`));
      }
    }
  }

  private async join(session: Session, m: Msg<'join'>): Promise<void> {
    const access = roomAccess(m.room, session.user);
    if (!access.ok) return this.error(session, access.code, access.message, m.ref);
    await this.node.joinRoom(session, access.room, m.since, (members, truncated) => {
      this.reply(
        session,
        { type: 'joined', room: access.room, members, ...(truncated ? { history_truncated: true } : {}) },
        m.ref,
      );
    });
  }

  private async leave(session: Session, m: Msg<'leave'>): Promise<void> {
    if (!session.rooms.has(m.room))
      return this.error(session, 'forbidden', 'not a member of that room', m.ref);
    await this.node.leaveRoom(session, m.room);
    this.reply(session, { type: 'left', room: m.room }, m.ref);
  }

  private async send(session: Session, m: Msg<'send'>): Promise<void> {
    if (!session.rooms.has(m.room)) return this.error(session, 'forbidden', 'join the room first', m.ref);
    await this.publish(session, m.room, m.text, m.ref);
  }

  private async dm(session: Session, m: Msg<'dm'>): Promise<void> {
    const room = dmRoom(session.user, m.to.toLowerCase());
    if (room === undefined) return this.error(session, 'bad_request', 'invalid recipient', m.ref);
    await this.publish(session, room, m.text, m.ref);
  }

  private async publish(
    session: Session,
    room: string,
    text: string,
    ref: string | undefined,
  ): Promise<void> {
    const { state, options } = this.deps;
    // `from` is the token's subject, whatever the client wrote.
    const outcome = await state.broker.publishLimited(room, session.user, text, options.rateLimits);
    const decision = outcome.refused;
    if (decision !== undefined) {
      this.countRateLimited(session.user);
      this.error(session, 'rate_limited', 'message rate limit reached', ref, {
        retry_after_ms: decision.retryAfterMs,
      });
      if (decision.blocked) {
        this.node.audit('blocked', {
          username: session.user,
          reason: 'rate_limit',
          violations: decision.violations,
        });
        this.node.kickUser(session.user, CLOSE.blocked, 'kicked_blocked');
      }
      return;
    }
    this.reply(session, { type: 'ack', id: outcome.published.id, room }, ref);
  }

  private async history(session: Session, m: Msg<'history'>): Promise<void> {
    const access = roomAccess(m.room, session.user);
    if (!access.ok) return this.error(session, access.code, access.message, m.ref);
    const messages = await this.deps.state.broker.history(
      access.room,
      m.limit ?? HISTORY_DEFAULT_LIMIT,
      m.before,
    );
    this.reply(session, { type: 'history', room: access.room, messages }, m.ref);
  }

  private async refreshToken(session: Session, m: Msg<'refresh_token'>): Promise<void> {
    const refuse = (reason: string, message = 'token refused') => {
      this.node.audit('token_refresh_refused', {
        username: session.user,
        session: session.id,
        address: session.address,
        reason,
      });
      this.error(session, 'forbidden', message, m.ref);
    };
    let claims;
    try {
      claims = this.deps.verifier.verify(m.token);
    } catch (err) {
      return refuse(err instanceof TokenError ? err.code : 'invalid');
    }
    if (claims.sub !== session.user) return refuse('other_user', 'token of another user');
    if (await this.deps.state.revocations.isRevoked(claims)) return refuse('revoked');
    if (session.closed) return;
    if (claims.exp >= session.claims.exp) {
      session.claims = claims;
      this.node.scheduleExpiry(session);
    }
    this.reply(session, { type: 'token_refreshed', exp: session.claims.exp }, m.ref);
  }

  private reply(session: Session, body: Record<string, unknown>, ref: string | undefined): void {
    session.sendText(frame(ref === undefined ? body : { ...body, ref }));
  }

  private error(
    session: Session,
    code: ErrorCode,
    message: string,
    ref: string | undefined,
    extra: Record<string, unknown> = {},
  ): void {
    this.reply(session, { type: 'error', code, message, ...extra }, ref);
  }

  private countRateLimited(user: string): void {
    this.rateLimitedCounts.set(user, (this.rateLimitedCounts.get(user) ?? 0) + 1);
  }

  private flushRateLimitedSummary(): void {
    for (const [user, count] of this.rateLimitedCounts) {
      this.node.audit('rate_limited', { username: user, rejected: count, period_s: 10 });
    }
    this.rateLimitedCounts.clear();
  }
}

import type { Logger } from '@securechat/common';
import {
  NotReplicatedError,
  StateUnavailableError,
  type Broker,
  type Conversation,
  type Inbox,
  type RateLimits,
  type RevocationStore,
} from '@securechat/state';
import { TokenError, type TokenVerifier } from '@securechat/tokens';
import type { Audit } from './audit';
import type { ReadSlots } from './budget';
import type { ErrorCode } from './codes';
import type { Enforcement } from './enforcement';
import { noChatMetrics, type ChatMetrics } from './metrics';
import {
  ackFrame,
  dmRoom,
  frame,
  HISTORY_DEFAULT_LIMIT,
  parseClientMessage,
  roomAccess,
  type ClientMessage,
} from './protocol';
import { TooManyReadsError, type Rooms } from './rooms';
import type { Session } from './session';

type Msg<T extends ClientMessage['type']> = Extract<ClientMessage, { type: T }>;

/** What the request handler works with: the node's parts, not the node. */
export interface RequestDeps {
  rooms: Rooms;
  enforcement: Enforcement;
  audit: Audit;
  broker: Broker;
  inbox: Inbox;
  revocations: RevocationStore;
  verifier: TokenVerifier;
  rateLimits: RateLimits;
  /** The most bytes one history reply carries (at least one message). */
  pageMaxBytes: number;
  /** The node's reads of history in flight at once. */
  reads: ReadSlots;
  logger: Logger;
  metrics?: ChatMetrics;
}

/** What a request costs from the session's budget: `conversations` reads up to 200 streams. */
const REQUEST_COST: Partial<Record<ClientMessage['type'], number>> = { conversations: 10 };

/** A conversation as the `conversations` reply lists it. */
function conversationItem(c: Conversation): Record<string, unknown> {
  return c.last === undefined
    ? { room: c.room, unread: c.unread }
    : { room: c.room, last: c.last, unread: c.unread };
}

/** Request/reply handling of one session's frames; one method per message type. */
export class RequestHandler {
  private readonly metrics: ChatMetrics;

  constructor(private readonly deps: RequestDeps) {
    this.metrics = deps.metrics ?? noChatMetrics();
  }

  async handle(session: Session, text: string): Promise<void> {
    if (session.closed) return;
    // Every frame costs its bytes, a bad one too; replies are charged as they are written.
    session.charge(Buffer.byteLength(text));
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      if (parsed.type === 'send' || parsed.type === 'dm') this.metrics.message(parsed.type, 'bad_request');
      this.error(session, 'bad_request', parsed.reason, parsed.ref);
      return;
    }
    const message = parsed.message;
    // send and dm are governed by the cluster-wide message limit; the rest by a local budget.
    if (
      message.type !== 'send' &&
      message.type !== 'dm' &&
      !session.takeRequestToken(REQUEST_COST[message.type] ?? 1)
    ) {
      this.error(session, 'rate_limited', 'too many requests', message.ref, { retry_after_ms: 1000 });
      return;
    }
    // Every request by the bytes it caused. Reads of history (join, history) wait for the
    // budget before each page; the others are refused while a byte budget is in debt.
    const wait = message.type === 'join' || message.type === 'history' ? 0 : session.budgetWaitMs();
    if (wait > 0) {
      this.error(session, 'rate_limited', 'too many bytes requested', message.ref, { retry_after_ms: wait });
      return;
    }
    try {
      await this.dispatch(session, message);
    } catch (err) {
      if (message.type === 'send' || message.type === 'dm') this.metrics.message(message.type, 'error');
      if (err instanceof TooManyReadsError) {
        this.error(session, 'rate_limited', 'too many requests in progress', message.ref, {
          retry_after_ms: 1000,
        });
        return;
      }
      const unavailable = err instanceof StateUnavailableError;
      if (!unavailable)
        this.deps.logger.error('request failed', { type: message.type, session: session.id, err });
      this.error(session, 'internal', errorText(err), message.ref);
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
      case 'conversations':
        return this.conversations(session, message);
      case 'read':
        return this.read(session, message);
      default: {
        const unreachable: never = message;
        return Promise.reject(new Error(`unhandled ${String(unreachable)}`));
      }
    }
  }

  private async join(session: Session, m: Msg<'join'>): Promise<void> {
    const access = roomAccess(m.room, session.user);
    if (!access.ok) return this.error(session, access.code, access.message, m.ref);
    // Issued first, on the same Redis connection: a `conversations` sent after `joined`
    // finds the room. A failure only costs the room its place in the user's list.
    const remembering = this.deps.inbox
      .remember(session.user, access.room)
      .catch((err: unknown) =>
        this.deps.logger.warn('remembering a room failed', { room: access.room, err }),
      );
    const answered = await this.deps.rooms.join(session, access.room, m.since, (members, truncated) => {
      this.reply(
        session,
        { type: 'joined', room: access.room, members, ...(truncated ? { history_truncated: true } : {}) },
        m.ref,
      );
    });
    await remembering;
    // A leave overtook the join: it is answered all the same, as what it came to.
    if (!answered) this.error(session, 'forbidden', 'left the room before the join completed', m.ref);
  }

  private async leave(session: Session, m: Msg<'leave'>): Promise<void> {
    if (!session.inRoom(m.room)) return this.error(session, 'forbidden', 'not a member of that room', m.ref);
    // Leaving on purpose forgets the room from the user's list on every device (a
    // disconnect leaves rooms too, through Rooms, but keeps them listed).
    // A leave answers even while Redis is down: then the room stays listed (and says so in the log).
    const forgetting = this.deps.inbox
      .forget(session.user, m.room)
      .catch((err: unknown) => this.deps.logger.warn('forgetting a room failed', { room: m.room, err }));
    await Promise.all([this.deps.rooms.leave(session, m.room), forgetting]);
    this.reply(session, { type: 'left', room: m.room }, m.ref);
  }

  private async conversations(session: Session, m: Msg<'conversations'>): Promise<void> {
    const items = await this.deps.inbox.conversations(session.user);
    this.reply(session, { type: 'conversations', items: items.map(conversationItem) }, m.ref);
  }

  private async read(session: Session, m: Msg<'read'>): Promise<void> {
    const access = roomAccess(m.room, session.user);
    if (!access.ok) return this.error(session, access.code, access.message, m.ref);
    const outcome = await this.deps.inbox.markRead(session.user, access.room, m.id, session.id);
    switch (outcome.status) {
      case 'moved':
      case 'kept':
        return this.reply(session, { type: 'read', room: access.room, id: outcome.id }, m.ref);
      case 'unknown':
        return this.error(session, 'forbidden', 'not one of your rooms', m.ref);
      case 'empty':
        return this.error(session, 'not_found', 'no message to mark read', m.ref);
    }
  }

  // Not async: the message path's promise is publish's own, not one more around it.
  private send(session: Session, m: Msg<'send'>): Promise<void> {
    if (!session.inRoom(m.room)) {
      this.metrics.message('send', 'forbidden');
      this.error(session, 'forbidden', 'join the room first', m.ref);
      return Promise.resolve();
    }
    return this.publish('send', session, m.room, m.text, m.ref);
  }

  private async dm(session: Session, m: Msg<'dm'>): Promise<void> {
    const to = m.to.toLowerCase();
    const room = dmRoom(session.user, to);
    if (room === undefined) {
      this.metrics.message('dm', 'bad_request');
      return this.error(session, 'bad_request', 'invalid recipient', m.ref);
    }
    // Both users' lists get the room (a no-op once they have it), issued before the
    // publish so that the recipient's `conversations` finds it as soon as the DM arrives.
    const remembering = this.deps.inbox
      .rememberDirect(room, [session.user, to])
      .catch((err: unknown) => this.deps.logger.warn('remembering a DM room failed', { room, err }));
    await this.publish('dm', session, room, m.text, m.ref, [session.user, to]);
    await remembering;
  }

  private async publish(
    kind: 'send' | 'dm',
    session: Session,
    room: string,
    text: string,
    ref: string | undefined,
    direct?: readonly string[],
  ): Promise<void> {
    const { broker, rateLimits, audit } = this.deps;
    // `from` is the token's subject, whatever the client wrote.
    const outcome = await broker.publishLimited(room, session.user, text, rateLimits, direct);
    const decision = outcome.refused;
    this.metrics.message(kind, decision === undefined ? 'accepted' : 'rate_limited');
    if (decision !== undefined) {
      audit.rateLimited(session.user);
      this.error(session, 'rate_limited', 'message rate limit reached', ref, {
        retry_after_ms: decision.retryAfterMs,
      });
      if (decision.blocked) {
        this.metrics.blocked();
        audit.record('blocked', {
          username: session.user,
          reason: 'rate_limit',
          violations: decision.violations,
        });
        this.deps.enforcement.kickUser(session.user);
      }
      return;
    }
    session.sendText(ackFrame(outcome.published.id, room, ref));
  }

  private async history(session: Session, m: Msg<'history'>): Promise<void> {
    const access = roomAccess(m.room, session.user);
    if (!access.ok) return this.error(session, access.code, access.message, m.ref);
    const { broker, reads, pageMaxBytes } = this.deps;
    const read = session.exclusive(async () => {
      // Read only what the socket can take: a reader that does not drain costs Redis nothing.
      if (!(await session.readyFor(pageMaxBytes))) return;
      const page = await reads.run(() =>
        broker.history(
          access.room,
          { limit: m.limit ?? HISTORY_DEFAULT_LIMIT, maxBytes: pageMaxBytes },
          m.before,
        ),
      );
      this.reply(
        session,
        { type: 'history', room: access.room, messages: page.messages, ...(page.more ? { more: true } : {}) },
        m.ref,
      );
    });
    if (read === undefined) throw new TooManyReadsError();
    await read;
  }

  private async refreshToken(session: Session, m: Msg<'refresh_token'>): Promise<void> {
    const refuse = (reason: string, message = 'token refused') => {
      this.deps.audit.record('token_refresh_refused', {
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
    if (await this.deps.revocations.isRevoked(claims)) return refuse('revoked');
    if (session.closed) return;
    // An older token of the same user is accepted and changes nothing.
    const previousExp = session.claims.exp;
    if (session.renewToken(claims)) this.deps.enforcement.watchExpiry(session, previousExp);
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
    this.metrics.error(code);
    this.reply(session, { type: 'error', code, message, ...extra }, ref);
  }
}

/** What an `internal` error tells the client: whether a resend may repeat the message. */
function errorText(err: unknown): string {
  if (err instanceof NotReplicatedError) {
    return 'not confirmed by a replica in time: the message may still appear, check history before resending';
  }
  return err instanceof StateUnavailableError ? 'temporarily unavailable, retry' : 'internal error';
}

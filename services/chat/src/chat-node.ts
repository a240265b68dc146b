import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger, TrustList } from '@securechat/common';
import type { ChatState, RateLimits } from '@securechat/state';
import type { TokenVerifier } from '@securechat/tokens';
import { Admission, HandshakeGate, type Admitted, type Refused } from './admission';
import { Audit } from './audit';
import { ReadSlots, UserBudgets } from './budget';
import { CLOSE, HANDSHAKE } from './codes';
import { WebSocketEdge, wsCloseReason, type Connection } from './connection';
import { Enforcement } from './enforcement';
import { checkRequest, refuse, SUBPROTOCOL, type OriginPolicy } from './handshake';
import { Hub } from './hub';
import { Liveness } from './liveness';
import { LoopLag } from './loop-lag';
import { noChatMetrics, type ChatMetrics } from './metrics';
import { frame } from './protocol';
import { RequestHandler } from './requests';
import { Rooms } from './rooms';
import { Session, type SessionOptions } from './session';
import { Users } from './users';

/**
 * Until ws takes the socket over (it then listens for errors itself): an error of the raw
 * socket destroys it. One function for every socket rather than a closure each.
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** A node that sheds handshakes says so in its log at most this often, with the count. */
const SHED_LOG_INTERVAL_MS = 10_000;

/**
 * Reads of history (pages of at most PAGE_MAX_BYTES) a node has in flight at once: what
 * Redis may hold for the node's connection is bounded by their product (4 MiB by default).
 */
const READ_SLOTS = 16;

export interface ChatNodeOptions {
  nodeId: string;
  origins: OriginPolicy;
  trustProxy: TrustList;
  allowQueryToken: boolean;
  maxMessageBytes: number;
  maxBufferedBytes: number;
  maxConnectionsPerUser: number;
  maxConnectionsPerAddress: number;
  maxHandshakesPerAddressPerMin: number;
  /** The longest a handshake should wait to be decided; more are shed with 503 `overloaded` (0: never). */
  handshakeMaxWaitMs: number;
  /** Handshakes always decided at once, whatever the node's measured pace. */
  handshakeMinPending: number;
  /** Past this event-loop delay, new handshakes are shed (beyond a few). */
  handshakeMaxLagMs: number;
  /** The retry hint a shed handshake gets. */
  handshakeRetryAfterMs: number;
  pingIntervalMs: number;
  presenceTtlMs: number;
  historyMaxLen: number;
  /** The most bytes one history reply or replay page carries (at least one message). */
  pageMaxBytes: number;
  /** The most bytes one join replays before `replay_more`. */
  replayMaxBytes: number;
  /** What a connection's requests, and all of a user's on this node, may cost per second. */
  connectionBytesPerS: number;
  userBytesPerS: number;
  rateLimits: RateLimits;
  /** Live sessions are rechecked against revocations and blocks this often. */
  revalidateIntervalMs: number;
  /** Tolerance after a token's exp before the connection is closed. */
  expiryToleranceMs: number;
}

export interface ChatNodeDeps {
  options: ChatNodeOptions;
  state: ChatState;
  verifier: TokenVerifier;
  logger: Logger;
  /** What the node counts (createChatMetrics on the node's registry); nothing by default. */
  metrics?: ChatMetrics;
}

/**
 * A chat node, composed of its parts: admission decides who gets a socket, the hub
 * holds the local sessions, rooms move frames between the broker and the sessions,
 * requests answer what clients send, enforcement and liveness end sessions that must
 * end, and the audit trail records it all. The node wires them and runs the
 * lifecycle (start, the upgrade pipeline, drain, close). It holds no state another node
 * needs: everything shared is behind the ports in `state`.
 */
export class ChatNode {
  readonly hub: Hub;
  private readonly metrics: ChatMetrics;
  private readonly audit: Audit;
  private readonly admission: Admission;
  private readonly gate: HandshakeGate;
  private readonly loopLag = new LoopLag();
  private shedLoggedAt = 0;
  private readonly rooms: Rooms;
  private readonly users: Users;
  private readonly enforcement: Enforcement;
  private readonly liveness: Liveness;
  private readonly requests: RequestHandler;
  private readonly edge: WebSocketEdge<Session>;
  /** What every session is made with but its user's budget (one onSlow for the node, not a closure each). */
  private readonly sessionOptions: SessionOptions;
  private readonly userBudgets: UserBudgets;
  private draining = false;

  constructor(private readonly deps: ChatNodeDeps) {
    const { options, state, logger } = deps;
    const metrics = (this.metrics = deps.metrics ?? noChatMetrics());
    const hub = (this.hub = new Hub(metrics));
    metrics.observe({ connections: () => hub.sessions.size, rooms: () => hub.localRooms.size });
    this.audit = new Audit(logger, options.nodeId);
    this.admission = new Admission(options, state);
    this.gate = new HandshakeGate(
      {
        maxWaitMs: options.handshakeMaxWaitMs,
        minPending: options.handshakeMinPending,
        maxLagMs: options.handshakeMaxLagMs,
      },
      Date.now,
      () => this.loopLag.ms,
    );
    this.userBudgets = new UserBudgets(options.userBytesPerS);
    // A page never takes more than half the slow-consumer bound, so a reader that drains
    // is never closed for a page it was sent.
    const pageMaxBytes = Math.min(options.pageMaxBytes, Math.floor(options.maxBufferedBytes / 2));
    const reads = new ReadSlots(READ_SLOTS);
    this.rooms = new Rooms({
      hub,
      broker: state.broker,
      presence: state.presence,
      historyMaxLen: options.historyMaxLen,
      pageMaxBytes,
      replayMaxBytes: options.replayMaxBytes,
      reads,
      logger,
      metrics,
    });
    this.users = new Users({
      hub,
      broker: state.broker,
      inbox: state.inbox,
      historyMaxLen: options.historyMaxLen,
      pageMaxBytes,
      reads,
      logger,
      metrics,
    });
    this.enforcement = new Enforcement({
      hub,
      state,
      audit: this.audit,
      logger,
      expiryToleranceMs: options.expiryToleranceMs,
      metrics,
    });
    this.liveness = new Liveness({
      hub,
      state,
      enforcement: this.enforcement,
      audit: this.audit,
      logger,
      options,
      metrics,
    });
    this.requests = new RequestHandler({
      rooms: this.rooms,
      enforcement: this.enforcement,
      audit: this.audit,
      broker: state.broker,
      inbox: state.inbox,
      revocations: state.revocations,
      verifier: deps.verifier,
      rateLimits: options.rateLimits,
      pageMaxBytes,
      reads,
      logger,
      metrics,
    });
    this.sessionOptions = {
      maxBufferedBytes: options.maxBufferedBytes,
      connectionBytesPerS: options.connectionBytesPerS,
      onSlow: (s) => this.enforcement.end(s, CLOSE.slowConsumer, 'slow_consumer'),
    };
    this.edge = new WebSocketEdge<Session>({
      maxMessageBytes: options.maxMessageBytes,
      subprotocol: SUBPROTOCOL,
      onError: (err) => logger.error('websocket server error', { err }),
      wire: metrics.wire,
      events: {
        text: (session, data) => void this.requests.handle(session, data),
        binary: (session) => {
          if (!session.closed) this.metrics.closed('unsupported_data');
          session.close(CLOSE.unsupportedData);
        },
        pong: (session) => session.pong(),
        error: (session, err) => {
          const reason = wsCloseReason(err);
          if (reason !== undefined) this.metrics.closed(reason);
          logger.debug('socket error', { session: session.id, err: err.message });
        },
        closed: (session) => void this.released(session),
      },
    });
  }

  /** Resolves once the node hears the broker and enforcement events: only then may it listen. */
  async start(): Promise<void> {
    const { state } = this.deps;
    await state.broker.start();
    state.enforcement.onEvent((event) => this.enforcement.onEvent(event));
    await state.enforcement.start();
    await state.start();
    this.liveness.start();
    this.loopLag.start();
  }

  /** The HTTP server's `upgrade` listener. Every check runs before any 101. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroyOnError);
    if (this.draining) {
      this.metrics.handshake('draining');
      refuse(socket, HANDSHAKE.unavailable, { 'Retry-After': '1' });
      return;
    }
    // Shed before any work (token, Redis): the one cost of a shed handshake is this answer.
    if (!this.gate.enter()) return this.shed(socket);
    void this.upgrade(req, socket, head)
      .catch((err: unknown) => {
        this.deps.logger.error('handshake failed', { err });
        this.metrics.handshake('error');
        refuse(socket, HANDSHAKE.unavailable, { 'Retry-After': '1' });
      })
      .finally(() => this.gate.leave());
  }

  /** 503 `overloaded` with the retry hint; a warning now and then, not one per handshake. */
  private shed(socket: Duplex): void {
    const { handshakeRetryAfterMs: retryMs } = this.deps.options;
    this.metrics.handshake('overloaded');
    refuse(
      socket,
      HANDSHAKE.overloaded,
      { 'Retry-After': String(Math.ceil(retryMs / 1000)) },
      { retry_after_ms: retryMs },
    );
    const now = Date.now();
    if (now - this.shedLoggedAt >= SHED_LOG_INTERVAL_MS) {
      this.shedLoggedAt = now;
      this.deps.logger.warn('shedding handshakes', {
        shed: this.gate.takeShed(),
        pending: this.gate.inProgress,
        perSecond: Math.round(this.gate.pace()),
        retryAfterMs: retryMs,
      });
    }
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { options, verifier } = this.deps;
    const verdict = checkRequest(req, {
      origins: options.origins,
      trustProxy: options.trustProxy,
      verifier,
      allowQueryToken: options.allowQueryToken,
    });
    // The session id doubles as the handshake's id in the audit log, accepted or not.
    const id = randomBytes(12).toString('base64url');
    const result = await this.admission.admit(verdict, id);
    if (!result.ok) return this.refused(socket, result, verdict.address, id);
    const user = result.claims.sub;
    // The user's own channel is subscribed before `welcome`: every DM published after
    // it reaches the session; what came before is history.
    let subscribed = false;
    try {
      await this.users.acquire(user);
      subscribed = true;
    } catch (err) {
      this.deps.logger.warn('user channel subscription failed', { username: user, err });
    }
    if (!subscribed || socket.destroyed || this.draining) {
      this.metrics.handshake(subscribed ? 'gone' : 'state_unavailable');
      await Promise.all([
        this.admission.release({ ...result, user }),
        subscribed ? this.users.release(user) : Promise.resolve(),
      ]);
      if (!socket.destroyed) refuse(socket, HANDSHAKE.unavailable, subscribed ? {} : { 'Retry-After': '1' });
      return;
    }
    this.metrics.handshake();
    this.edge.accept(req, socket, head, (connection) => {
      // ws listens for the socket's errors now (and destroys it on one).
      socket.off('error', destroyOnError);
      return this.accept(connection, result);
    });
  }

  private refused(socket: Duplex, result: Refused, address: string, session: string): void {
    const { refusal } = result;
    this.metrics.handshake(result.reason);
    if (result.audited) {
      this.audit.record('handshake_refused', {
        reason: result.reason,
        status: refusal.status,
        address,
        username: result.user,
        session,
      });
    }
    const headers: Record<string, string> =
      refusal.status === 401 ? { 'WWW-Authenticate': 'Bearer error="invalid_token"' } : {};
    refuse(socket, refusal, headers);
  }

  private accept(connection: Connection, admitted: Admitted): Session {
    const { options } = this.deps;
    const { session: id, claims, address } = admitted;
    const session = new Session(id, claims, address, connection, {
      ...this.sessionOptions,
      userBudget: this.userBudgets.acquire(claims.sub),
    });
    this.hub.addSession(session);
    this.enforcement.watchExpiry(session);
    this.audit.record('connected', {
      username: claims.sub,
      session: id,
      address,
      method: admitted.method,
      jti: claims.jti,
    });
    const { max, windowMs } = options.rateLimits;
    session.sendText(
      frame({
        type: 'welcome',
        user: claims.sub,
        node: options.nodeId,
        session: id,
        // The message limit, so that a client can pace itself instead of being refused.
        limits: { messages: max, window_ms: windowMs },
        // The largest frame this node accepts (a larger one closes the socket with 1009), so
        // that a client can say "too long" before sending rather than lose the connection.
        max_message_bytes: options.maxMessageBytes,
      }),
    );
    return session;
  }

  /** The socket is gone: give back everything the session held, once. */
  private async released(session: Session): Promise<void> {
    const rooms = session.release();
    if (rooms === undefined) return;
    this.hub.removeSession(session);
    this.enforcement.forget(session);
    this.userBudgets.release(session.user);
    await Promise.all([
      this.rooms.leaveAll(session, rooms),
      this.admission.release({ session: session.id, address: session.address, user: session.user }),
      this.users.release(session.user),
    ]);
  }

  /** False once draining: a load balancer stops sending new connections here. */
  get accepting(): boolean {
    return !this.draining;
  }

  get connectionCount(): number {
    return this.hub.sessions.size;
  }

  /** Drain: refuse new handshakes, close every socket with 1012 and wait for them (bounded). */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    for (const session of this.hub.sessions) {
      if (session.closed) continue;
      this.metrics.closed('restart');
      session.close(CLOSE.restart);
    }
    const deadline = Date.now() + graceMs;
    while (this.hub.sessions.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const session of this.hub.sessions) session.terminate();
  }

  async close(): Promise<void> {
    this.liveness.close();
    this.loopLag.stop();
    this.rooms.close();
    this.users.close();
    this.audit.close();
    await this.drain(1000);
    await Promise.all([...this.hub.sessions].map((s) => this.released(s)));
    this.userBudgets.close();
    this.enforcement.close();
    this.edge.close();
  }
}

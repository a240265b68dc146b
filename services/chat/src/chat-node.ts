import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { messageFrame, type Logger, type TrustList } from '@securechat/common';
import type { ChatState, EnforcementEvent, RateLimits } from '@securechat/state';
import { formatId, isAfter, parseId, type ParsedId } from '@securechat/state';
import type { AccessClaims, TokenVerifier } from '@securechat/tokens';
import { CLOSE, HANDSHAKE, type CloseCode } from './codes';
import { wsConnection } from './connection';
import { checkRequest, refuse, SUBPROTOCOL, type OriginPolicy } from './handshake';
import { Hub } from './hub';
import { frame } from './protocol';
import { RequestHandler } from './requests';
import { Session } from './session';
import { Sweep } from './sweep';

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
  pingIntervalMs: number;
  presenceTtlMs: number;
  historyMaxLen: number;
  rateLimits: RateLimits;
  /** Live sessions are rechecked against revocations and blocks this often. */
  revalidateIntervalMs: number;
  /** Tolerance after a token's exp before the connection is closed. */
  expiryToleranceMs: number;
}

/**
 * How many messages a replay may return. Streams are trimmed approximately (whole radix
 * nodes of up to 100 entries), so a room can hold more than HISTORY_MAX_LEN: the limit
 * leaves room for all of it, so a resume never silently stops short of the newest.
 */
export function replayLimit(historyMaxLen: number): number {
  return historyMaxLen * 2 + 1000;
}

export interface ChatNodeDeps {
  options: ChatNodeOptions;
  state: ChatState;
  verifier: TokenVerifier;
  logger: Logger;
}

/**
 * A chat node: accepts authenticated WebSockets on an HTTP server's `upgrade`, keeps
 * their rooms in a Hub and moves messages through the Broker. It holds no state another
 * node needs: everything shared is behind the ports in `state`.
 */
export class ChatNode {
  readonly hub = new Hub();
  private readonly wss: WebSocketServer;
  private readonly handshakes: RateLimiterMemory;
  private readonly perAddress = new Map<string, number>();
  private readonly requests: RequestHandler;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Newest message id fanned out per room, to catch up after a subscriber reconnect. */
  private readonly lastIds = new Map<string, ParsedId>();
  /** Rooms whose local subscription is being set up or torn down, serialised per room. */
  private readonly roomLocks = new Map<string, Promise<void>>();
  private draining = false;

  constructor(private readonly deps: ChatNodeDeps) {
    const { options } = deps;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.wss.on('error', (err) => deps.logger.error('websocket server error', { err }));
    this.handshakes = new RateLimiterMemory({ points: options.maxHandshakesPerAddressPerMin, duration: 60 });
    this.requests = new RequestHandler(this, deps);
    deps.state.broker.onFrame((room, id, data) => this.onFrame(room, id, data));
    deps.state.broker.onResubscribed((rooms) => {
      for (const room of rooms) void this.catchUp(room);
    });
  }

  get logger(): Logger {
    return this.deps.logger;
  }

  async start(): Promise<void> {
    await this.deps.state.broker.start();
    this.deps.state.enforcement.onEvent((event) => this.enforce(event));
    await this.deps.state.enforcement.start();
    const { options } = this.deps;
    const sessions = () => this.hub.sessions;
    const heartbeatMs = Math.max(200, Math.floor(options.presenceTtlMs / 3));
    this.sweep(new Sweep(sessions, options.pingIntervalMs), (due) => this.ping(due));
    this.sweep(new Sweep(() => this.hub.localRooms, heartbeatMs), (due) =>
      this.heartbeatRooms(due.map(([room]) => room)),
    );
    this.sweep(new Sweep(sessions, heartbeatMs), (due) => this.heartbeatSessions(due));
    this.sweep(new Sweep(sessions, options.revalidateIntervalMs), (due) => void this.revalidate(due));
  }

  /** Runs `work` on each tick's slice of the sweep. */
  private sweep<T>(sweep: Sweep<T>, work: (due: T[]) => void): void {
    const timer = setInterval(() => {
      const due = sweep.next();
      if (due.length > 0) work(due);
    }, sweep.tickMs);
    timer.unref();
    this.timers.push(timer);
  }

  /** The HTTP server's `upgrade` listener. Every check runs before any 101. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.draining) {
      refuse(socket, HANDSHAKE.unavailable, { 'Retry-After': '1' });
      return;
    }
    void this.upgrade(req, socket, head).catch((err: unknown) => {
      this.logger.error('handshake failed', { err });
      refuse(socket, HANDSHAKE.unavailable, { 'Retry-After': '1' });
    });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { options, state } = this.deps;
    const verdict = checkRequest(req, {
      origins: options.origins,
      trustProxy: options.trustProxy,
      verifier: this.deps.verifier,
      allowQueryToken: options.allowQueryToken,
    });
    const address = verdict.address;
    // The session id doubles as the handshake's id in the audit log, accepted or not.
    const sessionId = randomBytes(12).toString('base64url');
    const refused = (refusal: (typeof HANDSHAKE)[keyof typeof HANDSHAKE], reason: string, user?: string) => {
      this.audit('handshake_refused', {
        reason,
        status: refusal.status,
        address,
        username: user,
        session: sessionId,
      });
      refuse(
        socket,
        refusal,
        refusal.status === 401 ? { 'WWW-Authenticate': 'Bearer error="invalid_token"' } : {},
      );
    };
    if (verdict.ok === false && verdict.refusal.status === 404) {
      refuse(socket, verdict.refusal);
      return;
    }
    try {
      await this.handshakes.consume(address);
    } catch {
      refused(HANDSHAKE.tooManyHandshakes, 'handshake_rate');
      return;
    }
    if (!verdict.ok) {
      refused(verdict.refusal, verdict.reason);
      return;
    }
    const { claims } = verdict;
    if ((this.perAddress.get(address) ?? 0) >= options.maxConnectionsPerAddress) {
      refused(HANDSHAKE.tooManyConnections, 'address_cap', claims.sub);
      return;
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
      refused(HANDSHAKE.unavailable, 'state_unavailable', claims.sub);
      return;
    }
    if (revoked) return refused(HANDSHAKE.invalidToken, 'token_revoked', claims.sub);
    if (blocked !== undefined) return refused(HANDSHAKE.blocked, 'blocked', claims.sub);
    // Counted before the async registry call so parallel handshakes cannot overshoot.
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    let acquired = false;
    try {
      acquired = await state.registry.acquire(claims.sub, sessionId, options.maxConnectionsPerUser);
    } catch {
      this.releaseAddress(address);
      refused(HANDSHAKE.unavailable, 'state_unavailable', claims.sub);
      return;
    }
    if (!acquired) {
      this.releaseAddress(address);
      refused(HANDSHAKE.tooManyConnections, 'user_cap', claims.sub);
      return;
    }
    if (socket.destroyed || this.draining) {
      this.releaseAddress(address);
      void state.registry.release(claims.sub, sessionId).catch(() => undefined);
      if (!socket.destroyed) refuse(socket, HANDSHAKE.unavailable);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) =>
      this.accept(ws, sessionId, claims, address, verdict.method),
    );
  }

  private releaseAddress(address: string): void {
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
  }

  private accept(ws: WebSocket, id: string, claims: AccessClaims, address: string, method: string): void {
    const { options } = this.deps;
    const session = new Session(id, claims, address, wsConnection(ws), options.maxBufferedBytes, (s) =>
      this.closeSession(s, CLOSE.slowConsumer, 'slow_consumer'),
    );
    this.hub.addSession(session);
    this.scheduleExpiry(session);
    ws.on('pong', () => {
      session.alive = true;
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        session.close(CLOSE.unsupportedData);
        return;
      }
      const text = Array.isArray(data) ? Buffer.concat(data).toString() : data.toString();
      void this.requests.handle(session, text);
    });
    ws.on('error', (err) => {
      // ws closes with 1009 for oversize frames and 1007 for invalid UTF-8 by itself.
      this.logger.debug('socket error', { session: id, err: err.message });
    });
    ws.on('close', () => void this.onClosed(session));
    this.audit('connected', { username: claims.sub, session: id, address, method, jti: claims.jti });
    session.sendText(frame({ type: 'welcome', user: claims.sub, node: options.nodeId, session: id }));
  }

  private async onClosed(session: Session): Promise<void> {
    if (session.released) return;
    session.released = true;
    session.closed = true;
    clearTimeout(session.expiryTimer);
    this.hub.removeSession(session);
    this.releaseAddress(session.address);
    const rooms = [...session.rooms.keys()];
    session.rooms.clear();
    await Promise.all(rooms.map((room) => this.leaveRoom(session, room)));
    await this.deps.state.registry.release(session.user, session.id).catch(() => undefined);
  }

  // ---- rooms ----------------------------------------------------------------------

  /** Serialises subscription changes of one room on this node. */
  private async withRoomLock<T>(room: string, work: () => Promise<T>): Promise<T> {
    const previous = this.roomLocks.get(room) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((r) => (release = r));
    const chained = previous.then(() => current);
    this.roomLocks.set(room, chained);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.roomLocks.get(room) === chained) this.roomLocks.delete(room);
    }
  }

  /**
   * Joins a session to a room: live frames are held back until the reply (and the
   * replay, with `since`) has been sent, so there is no hole and no duplicate between
   * the two.
   */
  async joinRoom(
    session: Session,
    room: string,
    since: string | undefined,
    reply: (members: string[], truncated: boolean) => void,
  ): Promise<void> {
    const { state, options } = this.deps;
    session.beginJoin(room);
    try {
      await this.withRoomLock(room, async () => {
        const first = this.hub.join(room, session);
        if (first) await state.broker.subscribe(room);
      });
      await state.presence.join(room, session.user);
      const members = await state.presence.members(room);
      let truncated = false;
      let replay: { id: string; data: Buffer }[] = [];
      if (since !== undefined) {
        const result = await state.broker.replay(room, since, replayLimit(options.historyMaxLen));
        truncated = result.truncated;
        replay = result.messages.map((m) => ({ id: m.id, data: Buffer.from(messageFrame(m)) }));
      }
      if (session.closed || !session.rooms.has(room)) return;
      reply(members, truncated);
      for (const m of replay) session.replayed(room, m.id, m.data);
      session.finishJoin(room);
    } catch (err) {
      session.rooms.delete(room);
      await this.leaveRoom(session, room);
      throw err;
    }
  }

  /** Removes a session from a room locally, then presence and subscription as needed. */
  async leaveRoom(session: Session, room: string): Promise<void> {
    const { state } = this.deps;
    session.rooms.delete(room);
    const stillHere = this.hub.userInRoom(room, session.user, session);
    await this.withRoomLock(room, async () => {
      const empty = this.hub.leave(room, session);
      if (empty) {
        this.lastIds.delete(room);
        await state.broker.unsubscribe(room);
      }
    });
    if (!stillHere) await state.presence.leave(room, session.user).catch(() => undefined);
  }

  private onFrame(room: string, id: string | undefined, data: Buffer): void {
    // Parsed once per node, for the high-water mark here and every member's in the Hub.
    const parsed = id === undefined ? undefined : parseId(id);
    if (parsed !== undefined) {
      // A catch-up may replay older ids after newer live ones: keep the newest.
      const last = this.lastIds.get(room);
      if (last === undefined || isAfter(parsed, last)) this.lastIds.set(room, parsed);
    }
    this.hub.fanOut(room, parsed, data);
  }

  /**
   * After the subscriber reconnected, reads back from the stream what pub/sub may have
   * dropped. Sessions drop anything they already have, so nothing is delivered twice.
   */
  private async catchUp(room: string): Promise<void> {
    const last = this.lastIds.get(room);
    if (last === undefined || !this.hub.hasRoom(room)) return;
    const since = formatId(last);
    try {
      const { messages } = await this.deps.state.broker.replay(
        room,
        since,
        replayLimit(this.deps.options.historyMaxLen),
      );
      for (const m of messages) this.onFrame(room, m.id, Buffer.from(messageFrame(m)));
      if (messages.length > 0)
        this.logger.info('caught up after resubscribe', { room, messages: messages.length });
    } catch (err) {
      this.logger.warn('catch-up failed', { room, err });
    }
  }

  // ---- liveness, expiry, enforcement ------------------------------------------------

  /** Pings each session about once per PING_INTERVAL_MS; one that missed the last pong is cut. */
  private ping(due: readonly Session[]): void {
    for (const session of due) {
      if (session.closed) continue;
      if (!session.alive) {
        this.audit('heartbeat_timeout', {
          username: session.user,
          session: session.id,
          address: session.address,
        });
        session.connection.terminate();
        continue;
      }
      session.alive = false;
      session.connection.ping();
    }
  }

  private heartbeatRooms(rooms: readonly string[]): void {
    this.deps.state.presence
      .heartbeat(this.hub.presenceEntries(rooms))
      .catch((err: unknown) => this.logger.warn('presence heartbeat failed', { err }));
  }

  private heartbeatSessions(sessions: readonly Session[]): void {
    const entries = sessions.filter((s) => !s.closed).map((s) => ({ user: s.user, session: s.id }));
    this.deps.state.registry
      .heartbeat(entries)
      .catch((err: unknown) => this.logger.warn('connection heartbeat failed', { err }));
  }

  scheduleExpiry(session: Session): void {
    clearTimeout(session.expiryTimer);
    const ms = session.claims.exp * 1000 - Date.now() + this.deps.options.expiryToleranceMs;
    session.expiryTimer = setTimeout(
      () => this.closeSession(session, CLOSE.tokenExpired, 'token_expired'),
      Math.max(0, ms),
    );
    session.expiryTimer.unref();
  }

  closeSession(
    session: Session,
    close: CloseCode,
    event: string,
    fields: Record<string, unknown> = {},
  ): void {
    if (session.closed) return;
    this.audit(event, { username: session.user, session: session.id, address: session.address, ...fields });
    session.close(close);
  }

  /** Closes every local session of a user (a block). */
  kickUser(user: string, close: CloseCode, event: string): number {
    const sessions = this.hub.sessionsOf(user);
    for (const s of sessions) this.closeSession(s, close, event);
    return sessions.length;
  }

  /** Closes local sessions whose token matches (a revocation). */
  kickToken(test: (claims: AccessClaims) => boolean, close: CloseCode, event: string): number {
    let n = 0;
    for (const s of this.hub.sessions) {
      if (test(s.claims)) {
        this.closeSession(s, close, event);
        n += 1;
      }
    }
    return n;
  }

  /** Acts on a revocation or block announced anywhere in the cluster. */
  enforce(event: EnforcementEvent): void {
    switch (event.kind) {
      case 'blocked': {
        const n = this.kickUser(event.user, CLOSE.blocked, 'kicked_blocked');
        this.audit('block_seen', { username: event.user, sessions_closed: n });
        return;
      }
      case 'unblocked':
        this.audit('unblock_seen', { username: event.user });
        return;
      case 'revoked': {
        const n = this.kickToken((c) => c.jti === event.jti, CLOSE.tokenRevoked, 'kicked_revoked');
        if (n > 0) this.audit('revocation_seen', { jti: event.jti, sessions_closed: n });
        return;
      }
      case 'revoked_all': {
        const now = Date.now();
        const n = this.kickToken(
          (c) => c.sub === event.user && c.iat * 1000 <= now,
          CLOSE.tokenRevoked,
          'kicked_revoked',
        );
        this.audit('revocation_seen', { username: event.user, scope: 'all_of_user', sessions_closed: n });
        return;
      }
      default: {
        const unreachable: never = event;
        this.logger.warn('unknown enforcement event', { event: unreachable });
      }
    }
  }

  /**
   * Rechecks the sweep's slice of live sessions against revocations and blocks, so a
   * missed notification cannot leave one open for long.
   */
  private async revalidate(sessions: readonly Session[]): Promise<void> {
    const { state } = this.deps;
    // Chunks of concurrent checks: written to Redis together, like a pipeline.
    for (let i = 0; i < sessions.length; i += 200) {
      const chunk = sessions.slice(i, i + 200).filter((s) => !s.closed);
      try {
        await Promise.all(
          chunk.map(async (session) => {
            const [revoked, blocked] = await Promise.all([
              state.revocations.isRevoked(session.claims),
              state.blocklist.blockedReason(session.user),
            ]);
            if (blocked !== undefined) this.closeSession(session, CLOSE.blocked, 'kicked_blocked');
            else if (revoked) this.closeSession(session, CLOSE.tokenRevoked, 'kicked_revoked');
          }),
        );
      } catch {
        return; // Redis unreachable: the next round tries again.
      }
    }
  }

  audit(event: string, fields: Record<string, unknown>): void {
    this.logger.info(event, { audit: true, event, node: this.deps.options.nodeId, ...fields });
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
    for (const session of this.hub.sessions) session.close(CLOSE.restart);
    const deadline = Date.now() + graceMs;
    while (this.hub.sessions.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const session of this.hub.sessions) session.connection.terminate();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.requests.close();
    await this.drain(1000);
    await Promise.all([...this.hub.sessions].map((s) => this.onClosed(s)));
    this.wss.close();
  }
}

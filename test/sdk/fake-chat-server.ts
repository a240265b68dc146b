import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A stand-in for the chat service, just enough of the protocol for the SDK tests: it
 * records every handshake and frame, keeps each room's messages with stream-style ids,
 * replays after `since` (compared numerically, with BigInt, independently of the SDK's
 * own comparison) and lets a test refuse handshakes, mute request types, hold replies,
 * make replays overlap and close sockets with any code.
 */

export interface Handshake {
  url: string;
  headers: IncomingMessage['headers'];
  /** Offered subprotocols, in order. */
  protocols: string[];
  /** The token found by whichever method carried it. */
  token: string | undefined;
  method: 'header' | 'subprotocol' | 'query' | undefined;
}

export interface StoredMessage {
  room: string;
  id: string;
  from: string;
  text: string;
  ts: number;
}

export interface FakeConnection {
  ws: WebSocket;
  handshake: Handshake;
  user: string;
  rooms: Set<string>;
  /** Every frame received, parsed. */
  frames: Record<string, unknown>[];
}

type Frame = Record<string, unknown>;

/** A refused handshake's answer: the status, and the JSON body and headers when a test cares. */
export interface Refusal {
  status: number;
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
}

function base64urlJson(part: string | undefined): Record<string, unknown> {
  if (part === undefined) return {};
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** An unsigned JWT-shaped token: the SDK reads `exp` and never verifies. */
export function fakeJwt(claims: { sub: string; exp?: number; jti?: string }): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'ES256', typ: 'JWT' })}.${enc({ typ: 'access', ...claims })}.c2lnbmF0dXJl`;
}

function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm) || BigInt(as) - BigInt(bs);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

function findToken(req: IncomingMessage, protocols: string[]): Pick<Handshake, 'token' | 'method'> {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return { token: auth.slice(7), method: 'header' };
  const bearer = protocols.find((p) => p.startsWith('bearer.'));
  if (bearer) return { token: bearer.slice(7), method: 'subprotocol' };
  const query = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  if (query) return { token: query, method: 'query' };
  return { token: undefined, method: undefined };
}

export class FakeChatServer extends EventEmitter {
  readonly handshakes: Handshake[] = [];
  readonly connections: FakeConnection[] = [];
  readonly rooms = new Map<string, StoredMessage[]>();
  /** Statuses (or whole answers) the next handshakes are refused with, in order. */
  readonly refusals: (number | Refusal)[] = [];
  /** Refuse every handshake with this status while set. */
  refuseAll: number | undefined;
  readonly forbiddenRooms = new Set<string>();
  /** Announced in `welcome` when set, as the chat node announces its message rate limit. */
  limits: { messages: number; window_ms: number } | undefined;
  /** Rooms whose `send` is refused as rate_limited with this retry_after_ms. */
  readonly rateLimitedRooms = new Map<string, number>();
  /** Request types that get no reply at all. */
  readonly muted = new Set<string>();
  /** How many already-delivered messages a replay repeats before the ones after `since`. */
  replayOverlap = 0;
  /** Messages one join replays before it answers `replay_more` (as a byte bound would). */
  replayPage: number | undefined;
  /** Messages one history reply carries at most, `more: true` when cut (as a byte bound would). */
  historyPage: number | undefined;
  /** While true, replies are kept in `held` instead of sent. */
  holdReplies = false;
  private readonly held: { conn: FakeConnection; frame: Frame }[] = [];
  /** The ms part of every id; seq counts up per room, so ids cross "-9" to "-10". */
  idMs = 1_700_000_000_000;
  private seq = new Map<string, number>();
  private sessions = 0;

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly nodeId: string,
  ) {
    super();
  }

  static async start(nodeId = 'fake-1'): Promise<FakeChatServer> {
    const wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
    });
    const http = createServer((_req, res) => {
      res.writeHead(404).end();
    });
    const server = new FakeChatServer(http, wss, nodeId);
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      server.onUpgrade(req, socket, head),
    );
    http.on('error', (err) => server.emit('server-error', err));
    wss.on('error', (err) => server.emit('server-error', err));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return server;
  }

  get url(): string {
    const { port } = this.http.address() as AddressInfo;
    return `ws://127.0.0.1:${port}/ws`;
  }

  /** The most recent connection still open. */
  get current(): FakeConnection | undefined {
    return [...this.connections].reverse().find((c) => c.ws.readyState === c.ws.OPEN);
  }

  /** Stores a message in `room` and delivers it to every member, like a publish from another user. */
  publish(room: string, from: string, text: string): StoredMessage {
    const seq = (this.seq.get(room) ?? 0) + 1;
    this.seq.set(room, seq);
    const msg: StoredMessage = { room, id: `${this.idMs}-${seq}`, from, text, ts: Date.now() };
    const log = this.rooms.get(room) ?? [];
    log.push(msg);
    this.rooms.set(room, log);
    // A DM reaches every connection of its two users, joined or not (as the chat node does).
    const pair = room.startsWith('dm:') ? room.split(':').slice(1) : [];
    for (const c of this.connections) {
      if (c.rooms.has(room) || pair.includes(c.user)) this.send(c, { type: 'message', ...msg });
    }
    return msg;
  }

  /** Sends a raw frame to a connection (anything, even invalid). */
  send(conn: FakeConnection, frame: Frame | string): void {
    if (conn.ws.readyState === conn.ws.OPEN)
      conn.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Releases held replies, in reverse order when asked. */
  flushReplies({ reverse = false } = {}): void {
    const batch = this.held.splice(0);
    if (reverse) batch.reverse();
    for (const { conn, frame } of batch) this.send(conn, frame);
  }

  heldCount(): number {
    return this.held.length;
  }

  /** Frames of `type` received over all connections, in arrival order. */
  framesOf(type: string): Record<string, unknown>[] {
    return this.connections.flatMap((c) => c.frames.filter((f) => f['type'] === type));
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const protocols = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    const handshake: Handshake = {
      url: req.url ?? '',
      headers: req.headers,
      protocols,
      ...findToken(req, protocols),
    };
    this.handshakes.push(handshake);
    this.emit('handshake', handshake);
    const next = this.refusals.shift() ?? this.refuseAll;
    if (next !== undefined) {
      const refusal = typeof next === 'number' ? { status: next } : next;
      const body = JSON.stringify(
        refusal.body ?? { error: `refused_${refusal.status}`, message: 'refused by the test' },
      );
      const headers = Object.entries(refusal.headers ?? {})
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.end(
        `HTTP/1.1 ${refusal.status} Refused\r\nContent-Type: application/json\r\n${headers}` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, handshake));
  }

  private onConnection(ws: WebSocket, handshake: Handshake): void {
    const claims = base64urlJson(handshake.token?.split('.')[1]);
    const user = typeof claims['sub'] === 'string' ? claims['sub'] : 'anonymous';
    const conn: FakeConnection = { ws, handshake, user, rooms: new Set(), frames: [] };
    this.connections.push(conn);
    ws.on('error', (err) => this.emit('server-error', err));
    ws.on('message', (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(data)) as Frame;
      } catch {
        return;
      }
      conn.frames.push(frame);
      this.emit('frame', conn, frame);
      this.onFrame(conn, frame);
    });
    this.sessions += 1;
    this.send(conn, {
      type: 'welcome',
      user,
      node: this.nodeId,
      session: `s${this.sessions}`,
      ...(this.limits === undefined ? {} : { limits: this.limits }),
    });
    this.emit('connection', conn);
  }

  private reply(conn: FakeConnection, frame: Frame): void {
    if (this.holdReplies) this.held.push({ conn, frame });
    else this.send(conn, frame);
  }

  private onFrame(conn: FakeConnection, f: Frame): void {
    const type = String(f['type']);
    if (this.muted.has(type)) return;
    const ref = typeof f['ref'] === 'string' ? { ref: f['ref'] } : {};
    const room = typeof f['room'] === 'string' ? f['room'] : '';
    const error = (code: string, extra: Frame = {}) =>
      this.reply(conn, { type: 'error', code, message: `${code} by the test`, ...ref, ...extra });
    if (room !== '' && this.forbiddenRooms.has(room)) return error('forbidden');
    switch (type) {
      case 'join': {
        conn.rooms.add(room);
        const members = [...new Set(this.connections.filter((c) => c.rooms.has(room)).map((c) => c.user))];
        this.reply(conn, { type: 'joined', room, members, ...ref });
        const since = f['since'];
        if (typeof since === 'string') {
          const log = this.rooms.get(room) ?? [];
          const after = log.findIndex((m) => compareIds(m.id, since) > 0);
          const from = after === -1 ? log.length : Math.max(0, after - this.replayOverlap);
          const page = log.slice(from, from + (this.replayPage ?? log.length));
          for (const m of page) this.send(conn, { type: 'message', ...m });
          const last = page.at(-1);
          if (from + page.length < log.length && last !== undefined)
            this.send(conn, { type: 'replay_more', room, last: last.id });
        }
        return;
      }
      case 'leave':
        conn.rooms.delete(room);
        return this.reply(conn, { type: 'left', room, ...ref });
      case 'send': {
        if (!conn.rooms.has(room)) return error('forbidden');
        const retry = this.rateLimitedRooms.get(room);
        if (retry !== undefined) return error('rate_limited', { retry_after_ms: retry });
        const msg = this.publish(room, conn.user, String(f['text']));
        return this.reply(conn, { type: 'ack', id: msg.id, ...ref });
      }
      case 'dm': {
        const to = String(f['to']);
        const msg = this.publish(`dm:${[conn.user, to].sort().join(':')}`, conn.user, String(f['text']));
        return this.reply(conn, { type: 'ack', id: msg.id, ...ref });
      }
      case 'history': {
        const log = this.rooms.get(room) ?? [];
        const before = f['before'];
        const limit = typeof f['limit'] === 'number' ? f['limit'] : 50;
        const upto = typeof before === 'string' ? log.filter((m) => compareIds(m.id, before) < 0) : log;
        const messages = upto.slice(-Math.min(limit, this.historyPage ?? limit));
        const more = upto.length > messages.length;
        return this.reply(conn, { type: 'history', room, messages, ...(more ? { more } : {}), ...ref });
      }
      case 'refresh_token': {
        const exp = base64urlJson(String(f['token']).split('.')[1])['exp'];
        this.emit('refresh', conn, f['token']);
        return this.reply(conn, { type: 'token_refreshed', exp, ...ref });
      }
      case 'ping':
        return this.reply(conn, { type: 'pong', ...ref });
      default:
        return error('bad_request');
    }
  }
}

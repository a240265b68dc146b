import type { Clock, TimerHandle } from './clock';
import { ChatError } from './errors';
import { parseServerFrame } from './parse';
import {
  BEARER_SUBPROTOCOL_PREFIX,
  REPLY_TYPE,
  SUBPROTOCOL,
  type ClientMessage,
  type ReplyTypes,
  type ServerMessage,
  type WelcomeMessage,
} from './protocol';
import type { CloseDetail, DialParams, Transport, TransportFactory } from './transport';

/** How the access token reaches the server's handshake. */
export type TokenMethod = 'header' | 'subprotocol' | 'query';

/** A connection's settings on any platform; the transport says how to dial. */
export interface CoreConnectionSettings {
  url: string;
  token: string;
  tokenMethod: TokenMethod;
  /** From the dial to the `welcome` frame. */
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  clock: Clock;
  transport: TransportFactory;
}

/** What a connection reports to its owner; replies to its own requests are not. */
export interface ConnectionHandlers {
  /** Every frame that is not the reply to a pending request. */
  frame(message: ServerMessage): void;
  /** A frame that could not be read. The connection stays open. */
  invalid(reason: string): void;
  /** The socket closed after `welcome`, for whatever reason (not after `close()`). */
  closed(code: number, reason: string): void;
  /**
   * A reply to one of its requests, before the request's promise settles: state that
   * later frames depend on (a room's members) is updated before any of them is read.
   */
  reply?(message: ServerMessage): void;
}

interface Pending {
  expect: ServerMessage['type'];
  resolve(reply: ServerMessage): void;
  reject(err: ChatError): void;
  timer: TimerHandle;
}

function dialParams(s: CoreConnectionSettings): DialParams {
  const base = { url: s.url, protocols: [SUBPROTOCOL], headers: {}, handshakeTimeoutMs: s.connectTimeoutMs };
  switch (s.tokenMethod) {
    case 'header':
      return { ...base, headers: { Authorization: `Bearer ${s.token}` } };
    case 'subprotocol':
      return { ...base, protocols: [SUBPROTOCOL, `${BEARER_SUBPROTOCOL_PREFIX}${s.token}`] };
    case 'query': {
      const url = new URL(s.url);
      url.searchParams.set('token', s.token);
      return { ...base, url: url.toString() };
    }
  }
}

/**
 * What a refused handshake's JSON error body says: its `error` code (a short, token-free
 * description) and a `retry_after_ms` hint (a node shedding load sends one).
 */
function refusalDetail(body: string | undefined): { text: string; retryAfterMs?: number } {
  if (body === undefined) return { text: '' };
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === 'object' && parsed !== null) {
      const { error, retry_after_ms: hint } = parsed as Record<string, unknown>;
      const text = typeof error === 'string' ? ` (${error})` : '';
      const valid = typeof hint === 'number' && Number.isFinite(hint) && hint >= 0 && hint <= 3_600_000;
      return valid ? { text, retryAfterMs: hint } : { text };
    }
  } catch {
    // not JSON: the status says enough
  }
  return { text: '' };
}

/**
 * One WebSocket from handshake to close: sends requests with a fresh `ref` each and
 * settles them from the reply carrying it. Owned by a ChatClient, which makes a new one
 * for every (re)connection; a Connection never reconnects itself. The same on every
 * platform: only its transport differs.
 */
export class CoreConnection {
  private readonly socket: Transport;
  private readonly pending = new Map<string, Pending>();
  private nextRef = 0;
  private phase: 'opening' | 'open' | 'closed' = 'opening';
  private endedByUs = false;
  private welcomeTimer: TimerHandle | undefined;
  private settleOpen!: { resolve(w: WelcomeMessage): void; reject(err: ChatError): void };
  private markEnded!: () => void;
  /** Resolves with `welcome`; rejects when the socket closes or times out before it. */
  readonly opened: Promise<WelcomeMessage>;
  /** Resolves once the socket has closed, however it ended. */
  readonly ended: Promise<void>;

  constructor(
    private readonly settings: CoreConnectionSettings,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.opened = new Promise((resolve, reject) => {
      this.settleOpen = { resolve, reject };
    });
    // Nobody may be waiting on `opened` when a close() fails it.
    this.opened.catch(() => undefined);
    this.ended = new Promise((resolve) => {
      this.markEnded = resolve;
    });
    this.socket = settings.transport(dialParams(settings), {
      text: (data) => this.onText(data),
      binary: () => this.handlers.invalid('binary frame'),
      closed: (code, reason, detail) => this.onClose(code, reason, detail),
    });
    this.welcomeTimer = settings.clock.setTimeout(() => {
      // A timer can fire late, behind a welcome that did come in time: a busy (or just
      // woken) process runs its due timers before it reads its sockets. Read them first:
      // a timer set now runs after the sockets' next read.
      this.welcomeTimer = settings.clock.setTimeout(() => {
        this.failOpen(new ChatError('connect_failed', 'timed out waiting for welcome'));
        this.socket.terminate();
      }, 0);
    }, settings.connectTimeoutMs);
  }

  get isOpen(): boolean {
    return this.phase === 'open';
  }

  /** The subprotocol the server selected (`chat.v1`). */
  get protocol(): string {
    return this.socket.protocol;
  }

  request<M extends ClientMessage>(message: M): Promise<ReplyTypes[M['type']]> {
    if (this.phase !== 'open') {
      return Promise.reject(new ChatError('not_connected', 'the connection is not open'));
    }
    const ref = String(++this.nextRef);
    return new Promise<ReplyTypes[M['type']]>((resolve, reject) => {
      const timer = this.settings.clock.setTimeout(() => {
        this.pending.delete(ref);
        reject(
          new ChatError('timeout', `no reply to ${message.type} within ${this.settings.requestTimeoutMs} ms`),
        );
      }, this.settings.requestTimeoutMs);
      this.pending.set(ref, {
        expect: REPLY_TYPE[message.type],
        // The reply's type was checked against `expect` before this is called.
        resolve: resolve as (reply: ServerMessage) => void,
        reject,
        timer,
      });
      try {
        this.socket.send(JSON.stringify({ ...message, ref }));
      } catch (err) {
        this.pending.delete(ref);
        this.settings.clock.clearTimeout(timer);
        reject(new ChatError('disconnected', 'the connection could not send', { cause: err }));
      }
    });
  }

  /** Ends the connection; pending requests reject with `closed`. No `closed` callback follows. */
  close(code = 1000, reason = ''): void {
    if (this.phase === 'closed') return;
    this.endedByUs = true;
    this.rejectPending(new ChatError('closed', 'the client closed the connection'));
    if (this.phase === 'opening') {
      this.failOpen(new ChatError('closed', 'the client closed the connection'));
      this.socket.terminate();
    } else {
      this.socket.close(code, reason);
    }
  }

  /** Drops the socket without a close handshake, as a dead network would. */
  terminate(): void {
    this.socket.terminate();
  }

  private onText(text: string): void {
    const parsed = parseServerFrame(text);
    if (parsed.kind === 'unknown') return;
    if (parsed.kind === 'invalid') {
      this.handlers.invalid(parsed.reason);
      return;
    }
    const message = parsed.message;
    if (this.phase === 'opening') {
      // Nothing precedes welcome; anything that does is not worth acting on.
      if (message.type === 'welcome') this.openWith(message);
      return;
    }
    if (this.phase === 'closed') return;
    const ref = 'ref' in message ? message.ref : undefined;
    const pending = ref === undefined ? undefined : this.pending.get(ref);
    if (ref === undefined || pending === undefined) {
      this.handlers.frame(message);
      return;
    }
    this.pending.delete(ref);
    this.settings.clock.clearTimeout(pending.timer);
    if (message.type === pending.expect) this.handlers.reply?.(message);
    if (message.type === 'error') pending.reject(ChatError.fromReply(message));
    else if (message.type === pending.expect) pending.resolve(message);
    else {
      pending.reject(
        new ChatError('protocol_error', `expected ${pending.expect} in reply, got ${message.type}`),
      );
    }
  }

  private openWith(welcome: WelcomeMessage): void {
    this.phase = 'open';
    this.clearWelcomeTimer();
    this.settleOpen.resolve(welcome);
  }

  private failOpen(err: ChatError): void {
    this.clearWelcomeTimer();
    this.settleOpen.reject(err);
  }

  private clearWelcomeTimer(): void {
    if (this.welcomeTimer !== undefined) this.settings.clock.clearTimeout(this.welcomeTimer);
    this.welcomeTimer = undefined;
  }

  private onClose(code: number, reason: string, detail: CloseDetail): void {
    if (this.phase === 'closed') return;
    const was = this.phase;
    this.phase = 'closed';
    this.markEnded();
    this.rejectPending(
      new ChatError('disconnected', `connection closed (${code}${reason ? ` ${reason}` : ''})`, {
        closeCode: code,
        closeReason: reason,
      }),
    );
    if (was === 'opening') {
      this.failOpen(this.openFailure(code, reason, detail));
    } else if (!this.endedByUs) {
      this.handlers.closed(code, reason);
    }
  }

  private openFailure(code: number, reason: string, detail: CloseDetail): ChatError {
    if (detail.refusedStatus !== undefined) {
      const body = refusalDetail(detail.refusedBody);
      const retryAfterMs = body.retryAfterMs ?? detail.refusedRetryAfterMs;
      return new ChatError(
        'handshake_refused',
        `handshake refused: HTTP ${detail.refusedStatus}${body.text}`,
        {
          status: detail.refusedStatus,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        },
      );
    }
    if (code !== 1006) {
      return new ChatError('connect_failed', `closed before welcome (${code}${reason ? ` ${reason}` : ''})`, {
        closeCode: code,
        closeReason: reason,
      });
    }
    // Transport errors carry no URL, so no `?token=` can leak through them.
    const detailText = detail.error ? `: ${detail.error.message}` : '';
    return new ChatError('connect_failed', `could not connect${detailText}`, { cause: detail.error });
  }

  private rejectPending(err: ChatError): void {
    for (const p of this.pending.values()) {
      this.settings.clock.clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

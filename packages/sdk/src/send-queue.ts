import type { Clock, TimerHandle } from './clock';
import { ChatError } from './errors';
import type { AckMessage, DmRequest, RateLimitInfo, SendRequest } from './protocol';

/** A wait for the message rate limit, as the `rate_limited` event reports it. */
export interface RateLimitedInfo {
  /** The room of the message that waits (a `dm:` room for a DM, when the user is known). */
  room?: string;
  /** How long from now. */
  retryAfterMs: number;
  /** When sending is possible again (epoch ms, the client's clock). */
  until: number;
}

interface Entry {
  message: SendRequest | DmRequest;
  room: string | undefined;
  resolve(id: string): void;
  reject(err: ChatError): void;
}

export interface SendQueueDeps {
  clock: Clock;
  /** Sends on the live connection; rejects with a ChatError. */
  request(message: SendRequest | DmRequest): Promise<AckMessage>;
  /** Whether a connection is ready to take a request. */
  ready(): boolean;
  limited(info: RateLimitedInfo): void;
}

/**
 * `send` and `dm`, one at a time and in order, never while rate limited. The server
 * counts every message it refuses as a violation (enough of them block the user), so
 * the queue keeps its own sliding window of this client's accepted messages against the
 * limit the server announced in `welcome`, and waits when it is full. Another tab or
 * device of the same user can still fill the window: then the server refuses, and the
 * queue waits `retry_after_ms` and sends the same message again. One message is in
 * flight at a time, so a refusal costs one violation and order is kept. Messages not yet
 * sent survive a reconnect; the one in flight when the socket drops fails with
 * `disconnected` (it may or may not have been stored), as any request does.
 */
export class SendQueue {
  private readonly queue: Entry[] = [];
  private inFlight = false;
  private pausedUntil = 0;
  private timer: TimerHandle | undefined;
  private limits: RateLimitInfo | undefined;
  /** Client-clock times of this client's accepted messages, oldest first. */
  private readonly accepted: number[] = [];

  constructor(private readonly deps: SendQueueDeps) {}

  /** The server's limit from `welcome` (undefined from a server that does not say). */
  setLimits(limits: RateLimitInfo | undefined): void {
    this.limits = limits;
  }

  get length(): number {
    return this.queue.length;
  }

  enqueue(message: SendRequest | DmRequest, room: string | undefined): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ message, room, resolve, reject });
      this.pump();
    });
  }

  /** Sends the next message if nothing stops it: call when a connection becomes ready. */
  pump(): void {
    if (this.inFlight || this.timer !== undefined || !this.deps.ready()) return;
    const entry = this.queue[0];
    if (entry === undefined) return;
    const now = this.deps.clock.now();
    const wait = Math.max(this.pausedUntil - now, this.windowWait(now));
    if (wait > 0) {
      this.deps.limited({
        ...(entry.room === undefined ? {} : { room: entry.room }),
        retryAfterMs: wait,
        until: now + wait,
      });
      this.timer = this.deps.clock.setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
      return;
    }
    this.inFlight = true;
    this.deps.request(entry.message).then(
      (ack) => {
        this.inFlight = false;
        this.accepted.push(this.deps.clock.now());
        this.trim();
        this.queue.shift();
        entry.resolve(ack.id);
        this.pump();
      },
      (err: unknown) => {
        this.inFlight = false;
        if (err instanceof ChatError && err.code === 'rate_limited') {
          // Refused and not stored: the same message goes again once the window allows.
          this.pausedUntil = this.deps.clock.now() + Math.max(1, err.retryAfterMs ?? 1000);
        } else {
          this.queue.shift();
          entry.reject(
            err instanceof ChatError ? err : new ChatError('internal', 'send failed', { cause: err }),
          );
        }
        this.pump();
      },
    );
  }

  /** Fails every message not yet sent (the client closed). */
  rejectAll(err: ChatError): void {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    // The one in flight settles through its request.
    const waiting = this.inFlight ? this.queue.splice(1) : this.queue.splice(0);
    for (const entry of waiting) entry.reject(err);
  }

  /** How long until the local window has room, 0 when it has. */
  private windowWait(now: number): number {
    const limits = this.limits;
    if (limits === undefined || limits.messages <= 0) return 0;
    this.trim();
    if (this.accepted.length < limits.messages) return 0;
    const oldest = this.accepted[this.accepted.length - limits.messages] as number;
    return Math.max(0, oldest + limits.window_ms - now + 1);
  }

  private trim(): void {
    const max = this.limits?.messages ?? 0;
    while (this.accepted.length > Math.max(max, 1)) this.accepted.shift();
  }
}

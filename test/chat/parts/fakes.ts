import { randomBytes } from 'node:crypto';
import { loadConfig } from '@securechat/common';
import {
  authLimits,
  createMemoryAuthState,
  createMemoryChatState,
  MemoryCluster,
  type AuthState,
  type ChatState,
} from '@securechat/state';
import type { AccessClaims } from '@securechat/tokens';
import { Audit, Hub, Session, type ByteBucket, type Connection, type PreparedFrame } from '@securechat/chat';
import { memoryLogger } from '../../support/logs';

/** A socket as the chat core sees it, recording everything written to it. */
export class FakeConnection implements Connection {
  readonly sent: string[] = [];
  readonly closes: { code: number; reason: string }[] = [];
  pings = 0;
  terminated = false;
  bufferedAmount = 0;
  /** When true, what is written stays in bufferedAmount until `drain()`: a reader that does not read. */
  buffering = false;
  private readonly drainWaiters: (() => void)[] = [];

  /** Writers waiting for the socket to drain. */
  get drainWaiting(): number {
    return this.drainWaiters.length;
  }

  send(data: Buffer): void {
    this.sent.push(data.toString());
    if (this.buffering) this.bufferedAmount += data.length;
  }

  sendPrepared(frame: PreparedFrame): void {
    this.sent.push(frame.payload.toString());
    if (this.buffering) this.bufferedAmount += frame.wire.length;
  }

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
  }

  terminate(): void {
    this.terminated = true;
  }

  ping(): void {
    this.pings += 1;
  }

  /** Resolves at once while nothing is buffered, else when the test calls `drain()`. */
  drained(): Promise<void> {
    if (this.bufferedAmount === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** The peer read everything: the buffer empties and waiting writers go on. */
  drain(): void {
    this.bufferedAmount = 0;
    for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Every frame written, parsed. */
  frames(): Record<string, unknown>[] {
    return this.sent.map((s) => JSON.parse(s) as Record<string, unknown>);
  }

  ofType(type: string): Record<string, unknown>[] {
    return this.frames().filter((f) => f.type === type);
  }
}

export function claims(user: string, overrides: Partial<AccessClaims> = {}): AccessClaims {
  const now = Math.floor(Date.now() / 1000);
  return { sub: user, jti: randomBytes(8).toString('hex'), iat: now, exp: now + 900, ...overrides };
}

let sessionCounter = 0;

export function session(
  user: string,
  options: {
    connection?: FakeConnection;
    claims?: AccessClaims;
    maxBufferedBytes?: number;
    onSlow?: (s: Session) => void;
    connectionBytesPerS?: number;
    userBudget?: ByteBucket;
  } = {},
): { session: Session; connection: FakeConnection } {
  const connection = options.connection ?? new FakeConnection();
  sessionCounter += 1;
  const s = new Session(`s${sessionCounter}`, options.claims ?? claims(user), '192.0.2.1', connection, {
    maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
    onSlow: options.onSlow ?? (() => undefined),
    connectionBytesPerS: options.connectionBytesPerS,
    userBudget: options.userBudget,
  });
  return { session: s, connection };
}

/** The parts' shared surroundings on memory state: one node's view of a memory cluster. */
export function memoryNode(nodeId = 'n1', cluster = new MemoryCluster()) {
  const auth: AuthState = createMemoryAuthState(
    authLimits(loadConfig({}, 'embedded')),
    Date.now,
    cluster.announce,
  );
  const state: ChatState = createMemoryChatState(cluster, auth, {
    nodeId,
    presenceTtlMs: 60_000,
    historyMaxLen: 1000,
  });
  const log = memoryLogger('chat');
  const audit = new Audit(log.logger, nodeId);
  const audits = (event: string) => log.lines().filter((l) => l.audit === true && l.event === event);
  return { cluster, auth, state, hub: new Hub(), log, audit, audits };
}

/** `base` with some members replaced (a failing method, say); the rest still work. */
export function override<T extends object>(base: T, patch: Partial<T>): T {
  return new Proxy(base, {
    get: (target, key, receiver) =>
      Object.hasOwn(patch, key) ? patch[key as keyof T] : Reflect.get(target, key, receiver),
  });
}

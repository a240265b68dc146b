import { ChatClient, ChatError, Connection, systemClock, type MessageFrame } from '@securechat/sdk';
import { loadSigningKey, TokenIssuer } from '@securechat/tokens';
import { pool } from '../load/pool';
import type { SetupResult, StormProgress, StormReport, StormRequest, StormSetup } from './protocol';

interface Member {
  readonly user: string;
  readonly room: string;
  readonly client: ChatClient;
  /** Ids of the room's messages as the client emitted them, in order. */
  readonly received: string[];
  reconnectedAt?: number;
  /** Acked messages of the room when it came back: resumed once it has them all. */
  need?: number;
  resumedAt?: number;
  closed: boolean;
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** A failed attempt's cause, coarsely: the code, and the status or the kind of network failure. */
function causeKey(err: ChatError): string {
  if (err.status !== undefined) return `${err.code} ${err.status}`;
  if (err.code !== 'connect_failed') return err.code;
  const m = err.message;
  const kind = /welcome/.test(m)
    ? 'no welcome in time'
    : /ECONNREFUSED/.test(m)
      ? 'refused'
      : /ECONNRESET|socket hang up/.test(m)
        ? 'reset'
        : /timed out|timeout/i.test(m)
          ? 'opening handshake timed out'
          : 'other';
  return `${err.code} (${kind})`;
}

const SENDER_TIMEOUT_MS = 30_000;
/** Rooms per sender connection: its joins stay within a connection's request budget. */
const ROOMS_PER_SENDER = 40;

/**
 * One storm load generator process: SDK clients (the Node build, with the node list
 * [A, B, C]) that all start on A, in rooms of ten, and one sender on B posting to their
 * rooms. After the kill of A it records, per client, when it reconnected and when it had
 * caught up with every message its room had acknowledged by then; at the end it checks
 * that no acknowledged message is missing and none came twice.
 */
export class StormGenerator {
  private members: Member[] = [];
  private readonly rooms = new Map<string, Member[]>();
  /** Ids the sender's sends were acknowledged with, per room. */
  private readonly acked = new Map<string, string[]>();
  private setupInfo: StormSetup | undefined;
  private issuer: TokenIssuer | undefined;
  /** The sender connection of each room (one per ROOMS_PER_SENDER rooms). */
  private readonly senders = new Map<string, Connection>();
  private readonly senderConnections: Connection[] = [];
  private sendTimer: NodeJS.Timeout | undefined;
  private readonly sendErrors: Record<string, number> = {};
  private killedAt: number | undefined;
  private tokenRequests = 0;
  private readonly failedAttempts: Record<string, number> = {};
  private readonly landedOn: Record<string, number> = {};
  private lagTimer: NodeJS.Timeout | undefined;
  private readonly lag = { maxMs: 0, secondsOverOneSecond: 0 };

  async handle(request: StormRequest): Promise<unknown> {
    switch (request.op) {
      case 'setup':
        return this.setup(request);
      case 'join':
        return this.join();
      case 'send':
        this.startSending(request.ratePerS);
        return {};
      case 'mark':
        this.killedAt = request.killedAt;
        this.tokenRequests = 0;
        this.watchLag();
        return {};
      case 'progress':
        return this.progress();
      case 'stop_sending':
        clearInterval(this.sendTimer);
        this.sendTimer = undefined;
        return {};
      case 'verify':
        return this.verify(request.deadlineMs);
      case 'close':
        await this.close();
        return {};
    }
  }

  /** How late this process's loop runs from now on (a 100 ms timer's delay). */
  private watchLag(): void {
    let expected = Date.now() + 100;
    this.lagTimer = setInterval(() => {
      const now = Date.now();
      const late = Math.max(0, now - expected);
      this.lag.maxMs = Math.max(this.lag.maxMs, late);
      if (late > 1000) this.lag.secondsOverOneSecond += (late + 100) / 1000;
      expected = now + 100;
    }, 100);
  }

  private token(user: string): string {
    if (this.issuer === undefined) throw new Error('not set up');
    return this.issuer.issue(user).token;
  }

  private async setup(setup: StormSetup): Promise<SetupResult> {
    this.setupInfo = setup;
    this.issuer = new TokenIssuer(loadSigningKey(setup.keyFile), {
      issuer: setup.issuer,
      audience: setup.audience,
      ttlS: setup.tokenTtlS,
    });
    this.members = setup.members.map(({ user, room }) => this.member(setup, user, room));
    for (const m of this.members) {
      const list = this.rooms.get(m.room) ?? [];
      list.push(m);
      this.rooms.set(m.room, list);
      this.acked.set(m.room, []);
    }
    await pool(this.members, setup.concurrency, async (m) => {
      await m.client.connect();
    });
    return { connected: this.members.length, tokenRequests: this.tokenRequests };
  }

  private member(setup: StormSetup, user: string, room: string): Member {
    const client = new ChatClient({
      url: setup.urls,
      origin: setup.origin,
      reconnect: setup.reconnect,
      getToken: () => {
        this.tokenRequests += 1;
        return Promise.resolve(this.token(user));
      },
    });
    const member: Member = { user, room, client, received: [], closed: false };
    client.on('message', (m: MessageFrame) => {
      member.received.push(m.id);
      this.checkResumed(member);
    });
    client.on('reconnecting', (_attempt, _delay, cause) => {
      if (this.killedAt !== undefined && cause !== undefined) bump(this.failedAttempts, causeKey(cause));
    });
    client.on('reconnected', (info) => {
      if (this.killedAt === undefined || member.reconnectedAt !== undefined) return;
      member.reconnectedAt = Date.now();
      member.need = this.acked.get(room)?.length ?? 0;
      bump(this.landedOn, info.welcome.node);
      this.checkResumed(member);
    });
    client.on('close', () => {
      member.closed = true;
    });
    // Errors are counted through `reconnecting`; an unheard `error` is dropped by the SDK.
    client.on('error', () => undefined);
    return member;
  }

  private checkResumed(m: Member): void {
    if (m.resumedAt !== undefined || m.need === undefined) return;
    if (m.received.length >= m.need) m.resumedAt = Date.now();
  }

  private async join(): Promise<{ joined: number }> {
    const setup = this.setupInfo;
    if (setup === undefined) throw new Error('not set up');
    await pool(this.members, 64, async (m) => {
      await m.client.join(m.room);
    });
    const rooms = [...this.rooms.keys()];
    const groups: string[][] = [];
    for (let i = 0; i < rooms.length; i += ROOMS_PER_SENDER)
      groups.push(rooms.slice(i, i + ROOMS_PER_SENDER));
    await Promise.all(
      groups.map(async (group, i) => {
        const sender = await this.openSender(setup, `${setup.sender}x${i}`);
        for (const room of group) {
          await joinPaced(sender, room);
          this.senders.set(room, sender);
        }
      }),
    );
    return { joined: this.members.length };
  }

  private async openSender(setup: StormSetup, user: string): Promise<Connection> {
    const sender = new Connection(
      {
        url: setup.senderUrl,
        token: this.token(user),
        tokenMethod: 'header',
        origin: setup.origin,
        ca: undefined,
        rejectUnauthorized: undefined,
        connectTimeoutMs: SENDER_TIMEOUT_MS,
        requestTimeoutMs: SENDER_TIMEOUT_MS,
        clock: systemClock,
      },
      { frame: () => undefined, invalid: () => undefined, closed: () => undefined },
    );
    this.senderConnections.push(sender);
    await sender.opened;
    return sender;
  }

  /** Open loop: message n is due at start + n / rate, to the rooms in turn. */
  private startSending(ratePerS: number): void {
    const rooms = [...this.senders.keys()];
    if (rooms.length === 0) throw new Error('not joined');
    const start = Date.now();
    let sent = 0;
    this.sendTimer = setInterval(() => {
      const due = Math.floor(((Date.now() - start) / 1000) * ratePerS);
      for (; sent < due; sent++) {
        const room = rooms[sent % rooms.length] as string;
        const sender = this.senders.get(room) as Connection;
        sender.request({ type: 'send', room, text: `storm ${sent}` }).then(
          (ack) => this.acked.get(room)?.push(ack.id),
          (err: unknown) => bump(this.sendErrors, err instanceof ChatError ? err.code : 'unknown'),
        );
      }
    }, 10);
  }

  private progress(): StormProgress {
    let reconnected = 0;
    let resumed = 0;
    let closed = 0;
    for (const m of this.members) {
      if (m.reconnectedAt !== undefined) reconnected += 1;
      if (m.resumedAt !== undefined) resumed += 1;
      if (m.closed) closed += 1;
    }
    return { members: this.members.length, reconnected, resumed, closed };
  }

  /** Waits (up to `deadlineMs`) for every member to hold its room's acked messages, then checks. */
  private async verify(deadlineMs: number): Promise<StormReport> {
    const until = Date.now() + deadlineMs;
    const behind = () =>
      this.members.some((m) => !m.closed && m.received.length < (this.acked.get(m.room)?.length ?? 0));
    while (behind() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const killedAt = this.killedAt ?? 0;
    let missing = 0;
    let doubled = 0;
    let acked = 0;
    let duplicatesDropped = 0;
    for (const ids of this.acked.values()) acked += ids.length;
    for (const m of this.members) {
      const seen = new Set(m.received);
      doubled += m.received.length - seen.size;
      for (const id of this.acked.get(m.room) ?? []) if (!seen.has(id)) missing += 1;
      duplicatesDropped += m.client.duplicatesDropped;
    }
    const since = (at: number | undefined) => (at === undefined ? [] : [at - killedAt]);
    return {
      ...this.progress(),
      resumeMs: this.members.flatMap((m) => since(m.resumedAt)),
      reconnectMs: this.members.flatMap((m) => since(m.reconnectedAt)),
      tokenRequests: this.tokenRequests,
      failedAttempts: this.failedAttempts,
      landedOn: this.landedOn,
      acked,
      missing,
      doubled,
      duplicatesDropped,
      sendErrors: this.sendErrors,
      loopLag: this.lag,
    };
  }

  private async close(): Promise<void> {
    clearInterval(this.sendTimer);
    clearInterval(this.lagTimer);
    for (const sender of this.senderConnections) sender.close(1000);
    await Promise.all(this.members.map((m) => m.client.close()));
  }
}

/** Joins `room`, waiting out the connection's request budget when the node says so. */
async function joinPaced(connection: Connection, room: string): Promise<void> {
  for (;;) {
    try {
      await connection.request({ type: 'join', room });
      return;
    } catch (err) {
      if (!(err instanceof ChatError) || err.code !== 'rate_limited') throw err;
      await new Promise((resolve) => setTimeout(resolve, err.retryAfterMs ?? 1000));
    }
  }
}

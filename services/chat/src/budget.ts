/**
 * What a socket's requests may cost. Requests are charged by the bytes they cause (what
 * they send and what is written back for them: replies, history pages, replays) against
 * a per-connection and a per-user budget. A budget may go into debt by one page at most:
 * a request is admitted while neither budget is in debt and charged what it really cost
 * afterwards, because the cost of a page is only known once it is read.
 */

/** Seconds of refill a budget holds when full. */
export const BURST_SECONDS = 4;

type Clock = () => number;

/** A token bucket of bytes that may go into debt. */
export class ByteBucket {
  private level: number;
  private at: number;

  constructor(
    readonly bytesPerS: number,
    private readonly now: Clock = Date.now,
  ) {
    this.level = this.burst;
    this.at = now();
  }

  get burst(): number {
    return this.bytesPerS * BURST_SECONDS;
  }

  private refill(): void {
    const t = this.now();
    this.level = Math.min(this.burst, this.level + ((t - this.at) * this.bytesPerS) / 1000);
    this.at = t;
  }

  charge(bytes: number): void {
    this.refill();
    this.level -= bytes;
  }

  /** Milliseconds until the bucket is out of debt; 0 when it is not in debt. */
  waitMs(): number {
    this.refill();
    return this.level >= 0 ? 0 : Math.ceil((-this.level * 1000) / this.bytesPerS);
  }

  /** Milliseconds until the bucket is full again. */
  fullInMs(): number {
    this.refill();
    return Math.ceil(((this.burst - this.level) * 1000) / this.bytesPerS);
  }
}

/**
 * The per-user budgets of this node, one bucket shared by all of a user's sessions here.
 * A user's bucket outlives their last session until it has refilled, so that closing and
 * reopening sockets does not reset it. (Per node, not cluster-wide: a cluster-wide budget
 * would cost a Redis round trip per request; a user's connections are capped cluster-wide
 * by MAX_CONNECTIONS_PER_USER, so what a user can cost the cluster stays bounded.)
 */
export class UserBudgets {
  private readonly users = new Map<
    string,
    { bucket: ByteBucket; sessions: number; timer?: NodeJS.Timeout }
  >();

  constructor(
    private readonly bytesPerS: number,
    private readonly now: Clock = Date.now,
  ) {}

  acquire(user: string): ByteBucket {
    let entry = this.users.get(user);
    if (entry === undefined) {
      entry = { bucket: new ByteBucket(this.bytesPerS, this.now), sessions: 0 };
      this.users.set(user, entry);
    }
    clearTimeout(entry.timer);
    entry.sessions += 1;
    return entry.bucket;
  }

  release(user: string): void {
    const entry = this.users.get(user);
    if (entry === undefined) return;
    entry.sessions -= 1;
    if (entry.sessions > 0) return;
    const forget = () => {
      if (this.users.get(user) === entry && entry.sessions === 0) this.users.delete(user);
    };
    const ms = entry.bucket.fullInMs();
    if (ms <= 0) return forget();
    entry.timer = setTimeout(forget, ms);
    entry.timer.unref();
  }

  /** Users with a bucket on this node (for tests and figures). */
  get size(): number {
    return this.users.size;
  }

  close(): void {
    for (const entry of this.users.values()) clearTimeout(entry.timer);
    this.users.clear();
  }
}

/**
 * How many reads of history (history pages, replay pages) this node has in flight at
 * once, over all its sessions. With pages bounded in bytes, it bounds what Redis holds in
 * the output buffer of the node's connection, whatever the number of sockets asking.
 */
export class ReadSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly slots: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.active -= 1;
    }
  }
}

/**
 * An open-loop send schedule: message n is due at `startAt + n / rate` whatever happened
 * to the messages before it, and publishers take turns, so each sends at rate/publishers
 * with their sends spread evenly. The sender stamps each message with this intended
 * time, not the time it actually left, so a stalled load generator or server shows up
 * as latency instead of silently lowering the offered rate (coordinated omission).
 */
export interface DueMessage {
  readonly publisher: number;
  readonly intendedAt: number;
}

export class OpenLoopSchedule {
  private next = 0;
  private readonly intervalMs: number;

  constructor(
    private readonly startAt: number,
    private readonly endAt: number,
    ratePerS: number,
    private readonly publishers: number,
  ) {
    if (!(ratePerS > 0) || !(publishers > 0)) throw new Error('rate and publishers must be positive');
    this.intervalMs = 1000 / ratePerS;
  }

  /** When the next message is due, or undefined once the schedule is over. */
  nextDueAt(): number | undefined {
    const t = this.timeOf(this.next);
    return t < this.endAt ? t : undefined;
  }

  /** Every message due at or before `now` that has not been taken yet. */
  takeDue(now: number): DueMessage[] {
    const due: DueMessage[] = [];
    for (;;) {
      const t = this.timeOf(this.next);
      if (t > now || t >= this.endAt) return due;
      due.push({ publisher: this.next % this.publishers, intendedAt: t });
      this.next += 1;
    }
  }

  private timeOf(n: number): number {
    return this.startAt + n * this.intervalMs;
  }
}

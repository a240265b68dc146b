/**
 * How late this process's event loop runs: a timer due every `intervalMs` records how
 * late it fired. A node whose loop runs seconds late answers everything seconds late, a
 * handshake's welcome included, whatever it has admitted; the handshake gate reads this
 * to shed new handshakes until the node has caught up.
 */
export class LoopLag {
  private timer: NodeJS.Timeout | undefined;
  private expected = 0;
  private last = 0;

  constructor(
    private readonly intervalMs = 100,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.expected = this.now() + this.intervalMs;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Milliseconds the loop is running late: the last timer's delay, or how overdue the next
   * one is already (a loop stuck in one long turn has not fired it yet).
   */
  get ms(): number {
    return Math.max(this.last, this.now() - this.expected);
  }

  /** One timer firing; exposed for tests with their own clock. */
  tick(): void {
    const t = this.now();
    this.last = Math.max(0, t - this.expected);
    this.expected = t + this.intervalMs;
  }
}

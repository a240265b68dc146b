/** How many times a catch-up is tried in all (about a minute of back-off). */
export const CATCH_UP_ATTEMPTS = 16;

/**
 * The catch-up retries of one part (rooms, users): attempt n+1 runs 250 ms × 2^n after
 * attempt n failed, at most 5 s apart, up to CATCH_UP_ATTEMPTS in all; `clear` stops
 * every pending one when the node closes. Timers never hold the process open.
 */
export class CatchUpRetries {
  private readonly timers = new Set<NodeJS.Timeout>();

  /** Schedules the next attempt; false when `attempt` was the last one allowed. */
  schedule(attempt: number, run: (next: number) => void): boolean {
    if (attempt + 1 >= CATCH_UP_ATTEMPTS) return false;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        run(attempt + 1);
      },
      Math.min(250 * 2 ** attempt, 5000),
    );
    timer.unref();
    this.timers.add(timer);
    return true;
  }

  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

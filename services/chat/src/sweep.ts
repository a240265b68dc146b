/**
 * Periodic per-connection work (pings, presence and registry heartbeats, revalidation)
 * spread over its period: every tick visits the next slice of a live collection, so each
 * item is visited once per period and the work never arrives as one burst. Done all at
 * once, 700 pings or a heartbeat of every room blocked a node's event loop for 100-200 ms
 * on a 2-core machine, and nodes started together did it at the same moment.
 */
export class Sweep<T> {
  private cursor: Iterator<T> | undefined;
  /**
   * Visits owed, in item-milliseconds: size × tick accrues every tick and a visit costs
   * one period (integers, so 25 ticks of a lone item add up to exactly one visit).
   */
  private credit = 0;
  readonly tickMs: number;

  /**
   * @param items a live collection (a Set or a Map): JavaScript's iterators see
   *   additions and skip deletions made while a pass is under way.
   */
  constructor(
    private readonly items: () => { readonly size: number; [Symbol.iterator](): Iterator<T> },
    private readonly periodMs: number,
  ) {
    this.tickMs = sweepTickMs(periodMs);
  }

  /**
   * The items due this tick. Credit accrues fractionally, so a lone item is visited
   * once a period, not once every other tick. A pass that runs out after visiting some
   * items ends the tick, so no item is visited twice in one tick.
   */
  next(): T[] {
    const collection = this.items();
    if (collection.size === 0) {
      this.credit = 0;
      this.cursor = undefined;
      return [];
    }
    const size = collection.size;
    this.credit = Math.min(size * this.periodMs, this.credit + size * this.tickMs);
    const owed = Math.floor(this.credit / this.periodMs);
    const due: T[] = [];
    while (due.length < owed) {
      this.cursor ??= collection[Symbol.iterator]();
      const step = this.cursor.next();
      if (step.done === true) {
        this.cursor = undefined;
        if (due.length > 0) break;
        // Nothing visited yet this tick: the new pass starts now.
        const first = collection[Symbol.iterator]();
        const head = first.next();
        if (head.done === true) break;
        this.cursor = first;
        due.push(head.value);
        continue;
      }
      due.push(step.value);
    }
    this.credit -= due.length * this.periodMs;
    return due;
  }
}

/** About 25 ticks a period, between 10 ms and 1 s apart. */
export function sweepTickMs(periodMs: number): number {
  return Math.min(1000, Math.max(10, Math.floor(periodMs / 25)));
}

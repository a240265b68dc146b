/**
 * Deadlines of many items on one timer: items grouped by a whole second (a token's
 * `exp`), each group due `toleranceMs` after its second, the timer set for the earliest
 * group. A node's sessions each had a timer of their own for their token's expiry: with a
 * Timeout, its closures and a timer list per distinct duration, about 0.4 KB of every idle
 * socket. Here an item costs a Set entry; items of the same second share their group.
 */
export class Expiries<T> {
  /** Items per second, until that second's group is due (an emptied group stays until then). */
  private readonly groups = new Map<number, Set<T>>();
  /** The seconds of `groups`, a binary min-heap. */
  private readonly heap: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The second the timer is set for. */
  private timerFor: number | undefined;
  private closed = false;

  constructor(
    private readonly toleranceMs: number,
    private readonly onDue: (item: T, at: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** `item` is due `toleranceMs` after the second `at` (epoch seconds), unless deleted first. */
  add(item: T, at: number): void {
    if (this.closed) return;
    let group = this.groups.get(at);
    if (group === undefined) {
      group = new Set();
      this.groups.set(at, group);
      this.push(at);
    }
    group.add(item);
    if (this.timerFor === undefined || at < this.timerFor) this.schedule();
  }

  /** Forgets `item` as due at the second `at`. */
  delete(item: T, at: number): void {
    this.groups.get(at)?.delete(item);
  }

  /** Items waiting (for tests and figures). */
  get size(): number {
    let n = 0;
    for (const group of this.groups.values()) n += group.size;
    return n;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerFor = undefined;
    this.groups.clear();
    this.heap.length = 0;
  }

  private dueAt(second: number): number {
    return second * 1000 + this.toleranceMs;
  }

  /** Calls `onDue` for every item of every group due by now, then sets the timer for the next. */
  private fire(): void {
    this.timer = undefined;
    this.timerFor = undefined;
    const now = this.now();
    for (let top = this.heap[0]; top !== undefined && this.dueAt(top) <= now; top = this.heap[0]) {
      this.pop();
      const group = this.groups.get(top);
      this.groups.delete(top);
      for (const item of group ?? []) this.onDue(item, top);
    }
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const next = this.heap[0];
    this.timerFor = next;
    if (next === undefined) {
      this.timer = undefined;
      return;
    }
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.dueAt(next) - this.now()));
    this.timer.unref();
  }

  private push(second: number): void {
    const heap = this.heap;
    heap.push(second);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as number) <= second) break;
      heap[i] = heap[parent] as number;
      heap[parent] = second;
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    for (let i = 0; ;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && (heap[left] as number) < (heap[least] as number)) least = left;
      if (right < heap.length && (heap[right] as number) < (heap[least] as number)) least = right;
      if (least === i) break;
      heap[i] = heap[least] as number;
      heap[least] = last;
      i = least;
    }
  }
}

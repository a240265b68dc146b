/**
 * A map whose entries expire, read lazily against an injected clock (so tests can use
 * fake time); expired entries are swept as they are touched and on a bounded scan.
 */
export class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private writes = 0;

  constructor(private readonly now: () => number) {}

  set(key: string, value: V, ttlMs: number): void {
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    if (++this.writes % 1024 === 0) this.sweep();
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Remaining life in ms, or undefined when absent. */
  ttl(key: string): number | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined || entry.expiresAt <= this.now()) return undefined;
    return entry.expiresAt - this.now();
  }

  touch(key: string, ttlMs: number): void {
    const entry = this.entries.get(key);
    if (entry !== undefined) entry.expiresAt = this.now() + ttlMs;
  }

  delete(key: string): boolean {
    const had = this.get(key) !== undefined;
    this.entries.delete(key);
    return had;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}

import { parseExposition, sum } from '@securechat/metrics';

/**
 * Scrapes our nodes' /metrics every interval for the whole run, as a Prometheus would
 * (more often than its usual 15 s), so that a run with metrics on pays for collection
 * and exposition too, not only for counting. `deliveries()` reads what the nodes
 * counted, to set beside what the clients received.
 */
export class MetricsScraper {
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    private readonly urls: readonly string[],
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      for (const url of this.urls) {
        fetch(url, { signal: AbortSignal.timeout(this.intervalMs) })
          .then((res) => res.text())
          .catch(() => {
            this.failures += 1;
          });
      }
    }, this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Scrapes that failed (a node too busy to answer within the interval). */
  get failed(): number {
    return this.failures;
  }

  /** securechat_chat_deliveries_total summed over the nodes, now. */
  async deliveries(): Promise<number> {
    const texts = await Promise.all(
      this.urls.map(async (url) => (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text()),
    );
    return texts.reduce((n, text) => n + sum(parseExposition(text), 'securechat_chat_deliveries_total'), 0);
  }
}

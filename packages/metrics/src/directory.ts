import { z } from 'zod';
import type { Logger } from '@securechat/common';
import type { ServiceName } from './registry';

/**
 * Where the operator's live view (`chatctl top`) finds the nodes' metrics: every node
 * with a metrics listener keeps one field of the hash `<prefix>nodes` (field = NODE_ID,
 * value = this JSON), rewritten every ANNOUNCE_INTERVAL_MS. A hash field has no TTL of
 * its own, so each entry carries `seen_at`: readers ignore entries older than STALE_MS,
 * and each node deletes entries older than FORGET_MS when it announces itself. One key,
 * so the same commands work on a single Redis, Sentinel and Redis Cluster.
 */
export interface NodeEntry {
  readonly node: string;
  readonly service: ServiceName;
  /** The metrics URL, as reachable from the node's own network. */
  readonly url: string;
  /** Unix ms. */
  readonly started_at: number;
  readonly seen_at: number;
}

export const ANNOUNCE_INTERVAL_MS = 10_000;
export const STALE_MS = 3 * ANNOUNCE_INTERVAL_MS;
export const FORGET_MS = 10 * 60_000;

const entrySchema = z.object({
  node: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  service: z.enum(['auth', 'chat', 'embedded']),
  url: z.string().regex(/^http:\/\/[^\s/]+\/metrics$/),
  started_at: z.number().int().nonnegative(),
  seen_at: z.number().int().nonnegative(),
});

/** What the directory needs of a Redis client (a single node or a cluster). */
export interface DirectoryRedis {
  hset(key: string, field: string, value: string): Promise<unknown>;
  hdel(key: string, ...fields: string[]): Promise<unknown>;
  hgetall(key: string): Promise<Record<string, string>>;
}

/** Parses the hash into entries; a field that is not a valid entry is reported, not trusted. */
export function parseDirectory(hash: Record<string, string>): { entries: NodeEntry[]; invalid: string[] } {
  const entries: NodeEntry[] = [];
  const invalid: string[] = [];
  for (const [field, value] of Object.entries(hash)) {
    let raw: unknown;
    try {
      raw = JSON.parse(value);
    } catch {
      invalid.push(field);
      continue;
    }
    const parsed = entrySchema.safeParse(raw);
    if (parsed.success && parsed.data.node === field) entries.push(parsed.data);
    else invalid.push(field);
  }
  entries.sort((a, b) => a.node.localeCompare(b.node));
  return { entries, invalid };
}

export async function readDirectory(
  redis: DirectoryRedis,
  key: string,
  now = Date.now(),
): Promise<{ live: NodeEntry[]; stale: NodeEntry[]; invalid: string[] }> {
  const { entries, invalid } = parseDirectory(await redis.hgetall(key));
  return {
    live: entries.filter((e) => now - e.seen_at <= STALE_MS),
    stale: entries.filter((e) => now - e.seen_at > STALE_MS),
    invalid,
  };
}

/** One node's entry, kept fresh until `withdraw`. A Redis outage only delays it. */
export class NodeAnnouncer {
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly redis: DirectoryRedis,
    private readonly key: string,
    private readonly entry: Pick<NodeEntry, 'node' | 'service' | 'url'>,
    private readonly logger: Logger,
    private readonly intervalMs = ANNOUNCE_INTERVAL_MS,
  ) {}

  /** Writes the entry now and every interval. */
  start(): Promise<void> {
    this.timer = setInterval(() => void this.announce(), this.intervalMs);
    this.timer.unref();
    return this.announce();
  }

  async announce(): Promise<void> {
    const now = Date.now();
    const entry: NodeEntry = { ...this.entry, started_at: this.startedAt, seen_at: now };
    try {
      await this.redis.hset(this.key, entry.node, JSON.stringify(entry));
      const { entries, invalid } = parseDirectory(await this.redis.hgetall(this.key));
      const forgotten = entries.filter((e) => now - e.seen_at > FORGET_MS).map((e) => e.node);
      if (forgotten.length + invalid.length > 0) await this.redis.hdel(this.key, ...forgotten, ...invalid);
    } catch (err) {
      this.logger.debug('metrics announcement failed', { err });
    }
  }

  /** Stops announcing and removes the entry (a clean shutdown). */
  async withdraw(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.hdel(this.key, this.entry.node).catch(() => undefined);
  }
}

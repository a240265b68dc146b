/** Message ids are Redis Stream ids, `<ms>-<seq>`; they order a room's history. */
export const STREAM_ID = /^\d{1,15}-\d{1,10}$/;

/** Numeric comparison of two stream ids (string comparison would put 9 after 10). */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

/** A stream id parsed once, for comparisons on the hot path. */
export interface ParsedId {
  readonly ms: number;
  readonly seq: number;
}

export function parseId(id: string): ParsedId {
  const dash = id.indexOf('-');
  return { ms: Number(id.slice(0, dash)), seq: Number(id.slice(dash + 1)) };
}

export function formatId(id: ParsedId): string {
  return `${id.ms}-${id.seq}`;
}

/** true when `a` comes after `b`. */
export function isAfter(a: ParsedId, b: ParsedId): boolean {
  return a.ms > b.ms || (a.ms === b.ms && a.seq > b.seq);
}

/**
 * Message ids are Redis Stream ids, "<ms>-<seq>" with both parts unsigned 64-bit
 * integers. They must be compared as numbers, part by part: as strings "9-0" sorts after
 * "10-0" and "5-10" before "5-9". Digits are compared without converting to `number`,
 * which would lose precision past 2^53.
 */
const STREAM_ID = /^(\d+)(?:-(\d+))?$/;

export interface ParsedMessageId {
  ms: string;
  seq: string;
}

function stripZeros(digits: string): string {
  const s = digits.replace(/^0+/, '');
  return s === '' ? '0' : s;
}

/** Splits a stream id into its canonical parts; a bare "<ms>" means seq 0. */
export function parseMessageId(id: string): ParsedMessageId | undefined {
  const m = STREAM_ID.exec(id);
  if (!m || m[1] === undefined) return undefined;
  return { ms: stripZeros(m[1]), seq: stripZeros(m[2] ?? '0') };
}

export function isMessageId(id: string): boolean {
  return STREAM_ID.test(id);
}

function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Negative, zero or positive as `a` is before, equal to or after `b`. */
export function compareParsedIds(a: ParsedMessageId, b: ParsedMessageId): number {
  return compareDigits(a.ms, b.ms) || compareDigits(a.seq, b.seq);
}

/**
 * Negative, zero or positive as `a` is before, equal to or after `b`.
 * Throws on a string that is not a stream id: ordering it would be a guess.
 */
export function compareMessageIds(a: string, b: string): number {
  const pa = parseMessageId(a);
  const pb = parseMessageId(b);
  if (!pa || !pb) throw new TypeError(`not a message id: ${JSON.stringify(pa ? b : a)}`);
  return compareParsedIds(pa, pb);
}

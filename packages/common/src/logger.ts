import winston from 'winston';
import type { LogLevel } from './config';

/** Field names whose values are never written, whatever they hold. */
const SECRET_KEY = /pass(word)?|secret|token|authori[sz]ation|cookie|private|credential/i;
/** Bearer credentials and JWTs embedded in free text (URLs, messages). */
const SECRET_TEXT: readonly [RegExp, string][] = [
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g, '[redacted-jwt]'],
  [/(bearer[ .])[A-Za-z0-9._~+/=-]+/gi, '$1[redacted]'],
];
/** A query parameter inside text; its name may be percent-encoded (`?%74oken=`). */
const QUERY_PARAMETER = /([?&;])([^=&;?#\s]{1,100})=([^&;#\s]*)/g;

/** A parameter name as a decoding parser reads it, however many times it was encoded. */
function decodedName(name: string): string {
  let current = name;
  for (let i = 0; i < 3 && current.includes('%'); i++) {
    try {
      current = decodeURIComponent(current.replace(/\+/g, ' '));
    } catch {
      break;
    }
  }
  return current;
}

function redactQuery(text: string): string {
  return text.replace(QUERY_PARAMETER, (match, separator: string, name: string) =>
    SECRET_KEY.test(decodedName(name)) ? `${separator}${name}=[redacted]` : match,
  );
}
/**
 * Characters JSON.stringify leaves raw that terminals or log tooling treat as control:
 * DEL, C1 controls, and the Unicode line and paragraph separators.
 */
const RAW_CONTROL = /[\u007f-\u009f\u2028\u2029]/g;

export function escapeText(text: string): string {
  let out = redactQuery(text);
  for (const [pattern, replacement] of SECRET_TEXT) out = out.replace(pattern, replacement);
  return out.replace(RAW_CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Deep copy with secret fields replaced and every string escaped. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return escapeText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[truncated]';
  if (value instanceof Error) {
    return { name: value.name, message: escapeText(value.message) };
  }
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const safeKey = escapeText(key);
    out[safeKey] = SECRET_KEY.test(key) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    const value: unknown = info[key];
    // Field names are escaped too: a key can carry input as easily as a value.
    const safeKey = escapeText(key);
    if (safeKey !== key) delete info[key];
    info[safeKey] = SECRET_KEY.test(key) ? '[redacted]' : redact(value);
  }
  return info;
});

export type Logger = winston.Logger;

export interface LoggerOptions {
  level: LogLevel;
  service: string;
  node?: string;
  /** Defaults to stdout; tests pass a stream to read what was written. */
  stream?: NodeJS.WritableStream;
  silent?: boolean;
}

/** JSON lines on stdout; secrets redacted and control characters escaped. */
export function createLogger(options: LoggerOptions): Logger {
  const transport =
    options.stream !== undefined
      ? new winston.transports.Stream({ stream: options.stream })
      : new winston.transports.Console();
  return winston.createLogger({
    level: options.level,
    silent: options.silent ?? false,
    defaultMeta: { service: options.service, ...(options.node ? { node: options.node } : {}) },
    format: winston.format.combine(winston.format.timestamp(), redactFormat(), winston.format.json()),
    transports: [transport],
  });
}

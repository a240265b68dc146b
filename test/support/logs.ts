import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@securechat/common';

/** A logger whose JSON lines are kept in memory for assertions. */
export function memoryLogger(service = 'test'): {
  logger: Logger;
  lines: () => Record<string, unknown>[];
  text: () => string;
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', service, stream });
  const text = () => chunks.join('');
  const lines = () =>
    text()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, text };
}

/**
 * What console.error prints until `restore()`: libraries (ioredis's "[ioredis] Unhandled
 * error event") write there, outside the JSON log.
 */
export function captureConsoleError(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  /* eslint-disable no-console -- the console is what this captures */
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(' '));
  return { lines, restore: () => (console.error = original) };
  /* eslint-enable no-console */
}

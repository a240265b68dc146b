export interface PartLine {
  part: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

/** `[redis] …`, `[nginx] …`, `[auth-1] …`, `[chat-3] …`: what ManagedProcess's default sink writes. */
export const PART_LINE = /^\[(redis|nginx|(?:auth|chat)-\d+)\] ([^\n]*)\n$/;

/**
 * The lines the cluster's parts write. `Cluster` sends them, prefixed, to this process's
 * stdout and stderr (as `npm run cluster` does); while the suite runs they are taken from
 * there and kept here instead, so that the tests can read the nodes' and nginx's logs.
 */
export class PartOutput {
  readonly lines: PartLine[] = [];
  private readonly restores: (() => void)[] = [];

  install(): void {
    for (const [stream, name] of [
      [process.stdout, 'stdout'],
      [process.stderr, 'stderr'],
    ] as const) {
      type Write = (chunk: unknown, ...rest: unknown[]) => boolean;
      const target = stream as unknown as { write: Write };
      const original = target.write;
      target.write = (chunk: unknown, ...rest: unknown[]): boolean => {
        const match = typeof chunk === 'string' ? PART_LINE.exec(chunk) : null;
        if (match === null) return original.call(stream, chunk, ...rest);
        this.add(match[1] as string, match[2] as string, name);
        const callback = rest.find((r): r is () => void => typeof r === 'function');
        if (callback !== undefined) process.nextTick(callback);
        return true;
      };
      this.restores.push(() => {
        target.write = original;
      });
    }
  }

  uninstall(): void {
    for (const restore of this.restores.splice(0)) restore();
  }

  add(part: string, text: string, stream: PartLine['stream'] = 'stdout'): void {
    this.lines.push({ part, stream, text });
  }

  of(part: string): string[] {
    return this.lines.filter((l) => l.part === part).map((l) => l.text);
  }

  /** A part's JSON log lines (anything else it printed is skipped). */
  json(part: string): Record<string, unknown>[] {
    return this.of(part).flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  text(parts: readonly string[]): string {
    return this.lines
      .filter((l) => parts.includes(l.part))
      .map((l) => l.text)
      .join('\n');
  }

  tail(n = 40): string {
    return this.lines
      .slice(-n)
      .map((l) => `[${l.part}] ${l.text}`)
      .join('\n');
  }
}

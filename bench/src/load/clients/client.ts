/** What the load generator sees of a client, whichever system it talks to. */
export interface ClientEvents {
  /** A room message arrived; `text` is what the publisher sent. */
  onText(text: unknown): void;
  onAck(): void;
  onError(code: string): void;
  /** The connection closed after it had been established. */
  onClose(reason: string): void;
}

export interface BenchClient {
  /** Resolves once the connection is usable (for ours: after `welcome`). */
  connect(): Promise<void>;
  /** Resolves once the server confirmed the join. */
  join(room: string): Promise<void>;
  /** Sends one message to the room; false when the connection is not open. */
  send(room: string, text: string): boolean;
  close(): void;
}

export const CONNECT_TIMEOUT_MS = 15_000;

/** Rejects with `what` timed out unless `promise` settles within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** Parses a text frame into an object, or undefined for anything else. */
export function parseObject(data: unknown): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(String(data));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A timer handle as the clock returned it; only ever passed back to `clearTimeout`. */
export type TimerHandle = unknown;

/**
 * Time as the client sees it. Injected so that tests can drive backoff and token refresh
 * without waiting; the default is the platform's own timers.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => setTimeout(fn, ms),
  clearTimeout: (handle: TimerHandle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
});

import { StateUnavailableError } from '../ports';

/**
 * Any Redis failure (down, timed out, refused, a script error) surfaces as
 * StateUnavailableError: a 503 or an `internal` error, never a hang, and a different
 * thing from a refusal, which is a normal return value.
 */
export function guard<T>(work: Promise<T>): Promise<T> {
  // One derived promise, not an async function's own promise and its await: this wraps
  // every command of the message path.
  return work.then(undefined, (err: unknown) => {
    throw new StateUnavailableError(err);
  });
}

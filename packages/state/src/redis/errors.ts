import { StateUnavailableError } from '../ports';

/**
 * Any Redis failure (down, timed out, refused, a script error) surfaces as
 * StateUnavailableError: a 503 or an `internal` error, never a hang, and a different
 * thing from a refusal, which is a normal return value.
 */
export async function guard<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw new StateUnavailableError(err);
  }
}

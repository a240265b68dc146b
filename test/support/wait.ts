/**
 * Polls a condition until it holds or its deadline passes (5 s, every 20 ms, unless told):
 * the one polling wait of the harnesses, from @securechat/cluster.
 */
export { waitFor } from '@securechat/cluster';

/** `promise`, or a rejection naming `what` once `ms` have passed. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

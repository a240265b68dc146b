/**
 * A small typed event emitter shared by the Node and browser builds (the browser has no
 * `node:events`). Listeners run synchronously in the order they were added; a listener
 * that throws does not stop the others, and its error is rethrown asynchronously, where
 * the host reports uncaught errors. Unlike Node's EventEmitter, emitting `error` with no
 * listener does not throw: the client emits it only when someone listens.
 */
/** Event names and the argument list each one's listeners receive. */
export type EventMap<E> = { [K in keyof E]: unknown[] };

type Listener<A extends unknown[]> = (...args: A) => void;
/** How listeners are stored: the map cannot relate each key to its own argument list. */
type AnyListener = (...args: unknown[]) => void;

export class Emitter<E extends EventMap<E>> {
  private readonly listeners = new Map<keyof E, AnyListener[]>();

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener as unknown as AnyListener);
    this.listeners.set(event, list);
    return this;
  }

  /** Like `on`, for one emission. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapper: Listener<E[K]> & { inner?: Listener<E[K]> } = (...args) => {
      this.off(event, wrapper);
      listener(...args);
    };
    wrapper.inner = listener;
    return this.on(event, wrapper);
  }

  /** Removes one registration of `listener` (added with `on` or `once`). */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.listeners.get(event);
    if (list === undefined) return this;
    const i = list.findIndex(
      (l) => l === (listener as unknown) || (l as { inner?: unknown }).inner === (listener as unknown),
    );
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.listeners.delete(event);
    return this;
  }

  /** Node-style alias of `off`, so that `events.once(client, ...)` works on the Node build. */
  removeListener<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    return this.off(event, listener);
  }

  removeAllListeners(event?: keyof E): this {
    if (event === undefined) this.listeners.clear();
    else this.listeners.delete(event);
    return this;
  }

  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  /** Calls every listener of `event`; true when there was one. */
  emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const list = this.listeners.get(event);
    if (list === undefined || list.length === 0) return false;
    for (const listener of [...list]) {
      try {
        listener(...args);
      } catch (err) {
        // One faulty listener must not starve the others or the client's own bookkeeping.
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
    return true;
  }
}

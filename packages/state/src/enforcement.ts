/**
 * Live enforcement: every node learns within moments that a token was revoked or a user
 * blocked, whether the change came from an auth node, a chat node or an operator's
 * redis-cli. The Redis feed listens both to the product's control channel and to Redis
 * keyspace events on the revocation and block keys.
 */
export type EnforcementEvent =
  | { readonly kind: 'blocked'; readonly user: string }
  | { readonly kind: 'unblocked'; readonly user: string }
  | { readonly kind: 'revoked'; readonly jti: string }
  | { readonly kind: 'revoked_all'; readonly user: string };

export interface EnforcementFeed {
  onEvent(handler: (event: EnforcementEvent) => void): void;
  /** Resolves once the node receives events. */
  start(): Promise<void>;
  close(): Promise<void>;
}

const ID = /^[A-Za-z0-9_.-]{1,128}$/;

/** Control channel messages are `<kind> <subject>`; anything else is ignored. */
export function parseControlMessage(message: string): EnforcementEvent | undefined {
  const [kind, subject, ...rest] = message.split(' ');
  if (subject === undefined || rest.length > 0 || !ID.test(subject)) return undefined;
  switch (kind) {
    case 'blocked':
    case 'unblocked':
    case 'revoked_all':
      return { kind, user: subject };
    case 'revoked':
      return { kind, jti: subject };
    default:
      return undefined;
  }
}

export function formatControlMessage(event: EnforcementEvent): string {
  return event.kind === 'revoked' ? `revoked ${event.jti}` : `${event.kind} ${event.user}`;
}

/** In-process enforcement events (embedded mode): the memory stores announce changes here. */
export class MemoryControlBus implements EnforcementFeed {
  private readonly handlers = new Set<(event: EnforcementEvent) => void>();

  emit(event: EnforcementEvent): void {
    for (const handler of this.handlers) queueMicrotask(() => handler(event));
  }

  onEvent(handler: (event: EnforcementEvent) => void): void {
    this.handlers.add(handler);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.handlers.clear();
    return Promise.resolve();
  }
}

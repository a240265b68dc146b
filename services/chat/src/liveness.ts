import type { Logger } from '@securechat/common';
import type { ChatState } from '@securechat/state';
import type { Audit } from './audit';
import type { Enforcement } from './enforcement';
import type { Hub } from './hub';
import { noChatMetrics, type ChatMetrics } from './metrics';
import type { Session } from './session';
import { Sweep } from './sweep';

export interface LivenessOptions {
  pingIntervalMs: number;
  presenceTtlMs: number;
  revalidateIntervalMs: number;
}

/** Runs `tick` every `ms` until the returned function is called (setInterval by default). */
export type Every = (ms: number, tick: () => void) => () => void;

const every: Every = (ms, tick) => {
  const timer = setInterval(tick, ms);
  timer.unref();
  return () => clearInterval(timer);
};

export interface LivenessDeps {
  hub: Hub;
  state: Pick<ChatState, 'presence' | 'registry'>;
  enforcement: Enforcement;
  audit: Audit;
  logger: Logger;
  options: LivenessOptions;
  every?: Every;
  metrics?: ChatMetrics;
}

/**
 * The node's periodic work, each kind a Sweep spread over its period: WebSocket pings
 * (a session that missed the last pong is cut), the presence heartbeat of rooms with
 * local members, the connection registry's heartbeat, and revalidation.
 */
export class Liveness {
  private readonly stops: (() => void)[] = [];
  private readonly metrics: ChatMetrics;

  constructor(private readonly deps: LivenessDeps) {
    this.metrics = deps.metrics ?? noChatMetrics();
  }

  /** The presence and registry entries are renewed three times per PRESENCE_TTL_S. */
  get heartbeatMs(): number {
    return Math.max(200, Math.floor(this.deps.options.presenceTtlMs / 3));
  }

  start(): void {
    const { hub, options, enforcement } = this.deps;
    const sessions = () => hub.sessions;
    this.run(new Sweep(sessions, options.pingIntervalMs), (due) => this.ping(due));
    this.run(new Sweep(() => hub.localRooms, this.heartbeatMs), (due) =>
      this.heartbeatRooms(due.map(([room]) => room)),
    );
    this.run(new Sweep(sessions, this.heartbeatMs), (due) => this.heartbeatSessions(due));
    this.run(new Sweep(sessions, options.revalidateIntervalMs), (due) => void enforcement.revalidate(due));
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  private run<T>(sweep: Sweep<T>, work: (due: T[]) => void): void {
    this.stops.push(
      (this.deps.every ?? every)(sweep.tickMs, () => {
        const due = sweep.next();
        if (due.length > 0) work(due);
      }),
    );
  }

  private ping(due: readonly Session[]): void {
    for (const session of due) {
      if (session.closed || session.heartbeat()) continue;
      this.deps.audit.record('heartbeat_timeout', {
        username: session.user,
        session: session.id,
        address: session.address,
      });
      this.metrics.closed('heartbeat_timeout');
      session.terminate();
    }
  }

  private heartbeatRooms(rooms: readonly string[]): void {
    this.deps.state.presence
      .heartbeat(this.deps.hub.presenceEntries(rooms))
      .catch((err: unknown) => this.deps.logger.warn('presence heartbeat failed', { err }));
  }

  private heartbeatSessions(sessions: readonly Session[]): void {
    const entries = sessions.filter((s) => !s.closed).map((s) => ({ user: s.user, session: s.id }));
    this.deps.state.registry
      .heartbeat(entries)
      .catch((err: unknown) => this.deps.logger.warn('connection heartbeat failed', { err }));
  }
}

import { performance } from 'node:perf_hooks';
import { Histogram } from '../histogram';
import type { BenchClient, ClientEvents } from './clients/client';
import { OursClient } from './clients/ours-client';
import { RelayClient } from './clients/relay-client';
import { SocketIoClient } from './clients/socketio-client';
import {
  decodeStamp,
  encodeStamp,
  type ClientSpec,
  type ConnectResult,
  type ProgressResult,
  type StepReport,
  type SystemName,
  type WorkerRequest,
} from './protocol';
import { pool } from './pool';
import { OpenLoopSchedule } from './schedule';

/** Wall-clock milliseconds with sub-millisecond resolution. */
const clock = (): number => performance.timeOrigin + performance.now();

interface Member {
  readonly spec: ClientSpec;
  readonly client: BenchClient;
}

interface StepState {
  readonly step: number;
  readonly measureFrom: number;
  readonly measureTo: number;
  readonly histogram: Histogram;
  sending: boolean;
  timer: NodeJS.Timeout | undefined;
  sentTotal: number;
  sentInWindow: number;
  sendSkipped: number;
  recorded: number;
  deliveredInWindow: number;
  acks: number;
  errors: Record<string, number>;
  closes: Record<string, number>;
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/**
 * One load generator process's share of the clients. Every room lives wholly in one
 * load generator, so a message's send and receive times come from the same clock.
 */
export class LoadGenerator {
  private members: Member[] = [];
  private publishers: Member[] = [];
  private current: StepState | undefined;
  /** Events between steps; they are reported with the next step, so none goes unseen. */
  private idle = { acks: 0, errors: {} as Record<string, number>, closes: {} as Record<string, number> };

  async handle(request: WorkerRequest): Promise<unknown> {
    switch (request.op) {
      case 'connect':
        return this.connect(request.system, request.clients, request.concurrency);
      case 'join':
        return this.join();
      case 'step':
        this.startStep(
          request.step,
          request.ratePerS,
          request.startAt,
          request.measureFrom,
          request.measureTo,
        );
        return {};
      case 'progress':
        return this.progress(request.step);
      case 'collect':
        return this.collect(request.step);
      case 'close':
        this.close();
        return {};
    }
  }

  private async connect(
    system: SystemName,
    specs: ClientSpec[],
    concurrency: number,
  ): Promise<ConnectResult> {
    const started = clock();
    this.members = specs.map((spec) => ({ spec, client: this.createClient(system, spec) }));
    this.publishers = this.members.filter((m) => m.spec.publisher);
    await pool(this.members, concurrency, (m) => m.client.connect());
    return { connected: this.members.length, millis: Math.round(clock() - started) };
  }

  private async join(): Promise<{ joined: number }> {
    await pool(this.members, 64, (m) => m.client.join(m.spec.room));
    return { joined: this.members.length };
  }

  private createClient(system: SystemName, spec: ClientSpec): BenchClient {
    const events: ClientEvents = {
      onText: (text) => this.onText(text),
      onAck: () => {
        if (this.current !== undefined) this.current.acks += 1;
        else this.idle.acks += 1;
      },
      onError: (code) => bump(this.current?.errors ?? this.idle.errors, code),
      onClose: (reason) => bump(this.current?.closes ?? this.idle.closes, reason),
    };
    switch (system) {
      case 'ours':
        if (spec.token === undefined) throw new Error('ours needs a token per client');
        return new OursClient(spec.url, spec.token, spec.origin, events);
      case 'socketio':
        return new SocketIoClient(spec.url, events);
      case 'relay':
        return new RelayClient(spec.url, events);
    }
  }

  private onText(text: unknown): void {
    const receivedAt = clock();
    const state = this.current;
    if (state === undefined) return;
    if (receivedAt >= state.measureFrom && receivedAt < state.measureTo) state.deliveredInWindow += 1;
    const stamp = decodeStamp(text);
    if (stamp === undefined || stamp.step !== state.step) return;
    if (stamp.intendedAt < state.measureFrom || stamp.intendedAt >= state.measureTo) return;
    state.histogram.record((receivedAt - stamp.intendedAt) * 1000);
    state.recorded += 1;
  }

  private startStep(step: number, ratePerS: number, startAt: number, measureFrom: number, measureTo: number) {
    if (this.current?.timer !== undefined) clearTimeout(this.current.timer);
    const state: StepState = {
      step,
      measureFrom,
      measureTo,
      histogram: new Histogram(),
      sending: true,
      timer: undefined,
      sentTotal: 0,
      sentInWindow: 0,
      sendSkipped: 0,
      recorded: 0,
      deliveredInWindow: 0,
      acks: this.idle.acks,
      errors: this.idle.errors,
      closes: this.idle.closes,
    };
    this.idle = { acks: 0, errors: {}, closes: {} };
    this.current = state;
    if (this.publishers.length === 0 || ratePerS <= 0) {
      state.sending = false;
      return;
    }
    const schedule = new OpenLoopSchedule(startAt, measureTo, ratePerS, this.publishers.length);
    const tick = () => {
      for (const due of schedule.takeDue(clock())) {
        const member = this.publishers[due.publisher];
        if (member === undefined) continue;
        if (member.client.send(member.spec.room, encodeStamp(step, due.intendedAt))) {
          state.sentTotal += 1;
          if (due.intendedAt >= measureFrom) state.sentInWindow += 1;
        } else {
          state.sendSkipped += 1;
        }
      }
      const next = schedule.nextDueAt();
      if (next === undefined) {
        state.sending = false;
        state.timer = undefined;
        return;
      }
      state.timer = setTimeout(tick, Math.max(0, next - clock()));
    };
    state.timer = setTimeout(tick, Math.max(0, startAt - clock()));
  }

  private progress(step: number): ProgressResult {
    const state = this.stateOf(step);
    return { sending: state.sending, sentInWindow: state.sentInWindow, recorded: state.recorded };
  }

  private collect(step: number): StepReport {
    const state = this.stateOf(step);
    if (state.timer !== undefined) clearTimeout(state.timer);
    this.current = undefined;
    return {
      sending: false,
      sentInWindow: state.sentInWindow,
      recorded: state.recorded,
      sentTotal: state.sentTotal,
      sendSkipped: state.sendSkipped,
      deliveredInWindow: state.deliveredInWindow,
      latencyUs: state.histogram.toJSON(),
      acks: state.acks,
      errors: state.errors,
      closes: state.closes,
    };
  }

  private stateOf(step: number): StepState {
    const state = this.current;
    if (state === undefined || state.step !== step) throw new Error(`step ${step} is not running`);
    return state;
  }

  private close(): void {
    if (this.current?.timer !== undefined) clearTimeout(this.current.timer);
    this.current = undefined;
    for (const m of this.members) m.client.close();
  }
}

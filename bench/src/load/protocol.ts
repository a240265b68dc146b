import type { HistogramJson } from '../histogram';

/** The three systems under test; each has a node entry point and a client. */
export type SystemName = 'ours' | 'socketio' | 'relay';

export interface ClientSpec {
  readonly url: string;
  readonly room: string;
  readonly publisher: boolean;
  /** Access token (ours only). */
  readonly token?: string;
  /** Origin header to send (ours only; its nodes check it). */
  readonly origin?: string;
}

/** Requests from the bench process to a load generator process (over fork IPC). */
export type WorkerRequest =
  | { op: 'connect'; system: SystemName; clients: ClientSpec[]; concurrency: number }
  | { op: 'join' }
  | {
      op: 'step';
      step: number;
      /** This worker's share of the aggregate publish rate, messages per second. */
      ratePerS: number;
      /** Epoch milliseconds: sending starts, measuring starts, sending and measuring end. */
      startAt: number;
      measureFrom: number;
      measureTo: number;
    }
  | { op: 'progress'; step: number }
  | { op: 'collect'; step: number }
  | { op: 'close' };

export interface ConnectResult {
  connected: number;
  millis: number;
}

export interface ProgressResult {
  sending: boolean;
  /** Messages sent whose intended time lies in the measured window. */
  sentInWindow: number;
  /** Deliveries of those messages received so far (their latency is recorded). */
  recorded: number;
}

export interface StepReport extends ProgressResult {
  /** Messages this worker sent during the step, warm-up included. */
  sentTotal: number;
  /** Sends skipped because the publisher's socket was no longer open. */
  sendSkipped: number;
  /** Deliveries received while the window was open, whatever their intended time. */
  deliveredInWindow: number;
  latencyUs: HistogramJson;
  acks: number;
  errors: Record<string, number>;
  closes: Record<string, number>;
}

export type WorkerReply =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export type WorkerEnvelope = WorkerRequest & { id: number };

/** The text carried by every benchmark message: the step and the intended send time. */
export function encodeStamp(step: number, intendedAt: number): string {
  return `${step}:${intendedAt.toFixed(3)}`;
}

export function decodeStamp(text: unknown): { step: number; intendedAt: number } | undefined {
  if (typeof text !== 'string') return undefined;
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const step = Number(text.slice(0, colon));
  const intendedAt = Number(text.slice(colon + 1));
  if (!Number.isInteger(step) || !Number.isFinite(intendedAt)) return undefined;
  return { step, intendedAt };
}

/** Requests from the bench to a storm load generator process (fork IPC), and their results. */

export interface StormSetup {
  /** The chat endpoints every member gets, in order: [A, B, C]; members start on the first. */
  readonly urls: readonly string[];
  /** The sender's node (B): it is never killed. */
  readonly senderUrl: string;
  /** Members of this process: user name and room. */
  readonly members: readonly { user: string; room: string }[];
  /** The sender of this process (one user, in every room of this process). */
  readonly sender: string;
  /** The token signing key (PEM file) the process mints tokens with, as an auth node would. */
  readonly keyFile: string;
  readonly issuer: string;
  readonly audience: string;
  readonly tokenTtlS: number;
  readonly origin: string;
  /** Connections opened at once while setting up. */
  readonly concurrency: number;
  /** The clients' `reconnect` options beside the SDK's defaults (`--storm-reconnect`). */
  readonly reconnect: Readonly<Record<string, number>>;
}

export type StormRequest =
  | ({ op: 'setup' } & StormSetup)
  | { op: 'join' }
  /** The sender posts to this process's rooms in turn, at `ratePerS` messages per second. */
  | { op: 'send'; ratePerS: number }
  /** Node A is killed at `killedAt` (epoch ms): counting starts here. */
  | { op: 'mark'; killedAt: number }
  | { op: 'progress' }
  | { op: 'stop_sending' }
  | { op: 'verify'; deadlineMs: number }
  | { op: 'close' };

export interface StormProgress {
  members: number;
  /** Members reconnected since the kill. */
  reconnected: number;
  /** Members reconnected and caught up with what their room had acked when they came back. */
  resumed: number;
  /** Members whose client gave up (closed). */
  closed: number;
}

export interface StormReport extends StormProgress {
  /** Milliseconds from the kill to each member's resume (resumed members only). */
  resumeMs: number[];
  /** Milliseconds from the kill to each member's `reconnected`. */
  reconnectMs: number[];
  /** Token callback calls since the kill. */
  tokenRequests: number;
  /** Reconnect attempts since the kill that failed, by the ChatError code (and status) that failed them. */
  failedAttempts: Record<string, number>;
  /** Where members landed: welcome.node of their reconnect. */
  landedOn: Record<string, number>;
  /** Messages the sender had acknowledged, in all rooms of this process. */
  acked: number;
  /** Acked messages a member of the room never received. */
  missing: number;
  /** Messages a member received twice (the SDK filters duplicates; this checks the filter). */
  doubled: number;
  /** Server duplicates the SDK withheld (replay overlapping live delivery). */
  duplicatesDropped: number;
  /** Sends the sender saw refused or failed, by code. */
  sendErrors: Record<string, number>;
  /**
   * This load generator's own event loop after the kill: its worst delay, and the time it
   * ran over a second late. A client's timers fire late with it, so a welcome that came
   * in time can still be counted as a timeout: a busy load generator inflates failures.
   */
  loopLag: { maxMs: number; secondsOverOneSecond: number };
}

export interface SetupResult {
  connected: number;
  tokenRequests: number;
}

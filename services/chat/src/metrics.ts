import { messageFrameTs } from '@securechat/common';
import {
  Count,
  Distribution,
  LATENCY_BUCKETS,
  pulledCounter,
  pulledGauge,
  SIZE_BUCKETS,
  Tally,
  type LabelSpec,
  type Registry,
} from '@securechat/metrics';
import type { EnforcementEvent } from '@securechat/state';
import { ERROR_CODES, type ErrorCode } from './codes';

/** `securechat_chat_messages_total{outcome}`: what became of a `send` or `dm` (the contract's values). */
export const MESSAGE_OUTCOMES = ['accepted', 'rate_limited', 'forbidden', 'bad_request', 'error'] as const;
export type MessageOutcome = (typeof MESSAGE_OUTCOMES)[number];

/** Why a handshake was refused: the reasons of handshake.ts, admission.ts and the node. */
export const HANDSHAKE_REFUSALS = [
  'bad_url',
  'path',
  'not_websocket',
  'origin',
  'subprotocol',
  'no_token',
  'token_malformed',
  'token_bad_header',
  'token_unknown_key',
  'token_bad_signature',
  'token_expired',
  'token_not_yet_valid',
  'token_bad_claims',
  'token_invalid',
  'handshake_rate',
  'address_cap',
  'user_cap',
  'token_revoked',
  'blocked',
  'state_unavailable',
  /** The node was draining (503). */
  'draining',
  /** Shed: the node could not decide it within HANDSHAKE_MAX_WAIT_MS (503). */
  'overloaded',
  /** The socket closed, or a drain began, while the handshake was being decided. */
  'gone',
  /** The handshake failed unexpectedly (503). */
  'error',
] as const;

/**
 * Closes the server initiates, by reason: the 1008 reasons and 1013 slow_consumer of the
 * close catalogue, 1012 restart (a drain), 1003 for a binary frame, the closes ws sends on
 * its own (1009 too big, 1007 invalid UTF-8, 1002 protocol errors) and a cut after a
 * missed heartbeat.
 */
export const CLOSE_REASONS = [
  'token_expired',
  'token_revoked',
  'blocked',
  'slow_consumer',
  'restart',
  'heartbeat_timeout',
  'unsupported_data',
  'too_big',
  'invalid_utf8',
  'protocol_error',
] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export const REPLAY_KINDS = ['join', 'catchup'] as const;
export type ReplayKind = (typeof REPLAY_KINDS)[number];

const ENFORCEMENT_KINDS = [
  'blocked',
  'unblocked',
  'revoked',
  'revoked_all',
] as const satisfies readonly EnforcementEvent['kind'][];

/** Every label of the chat metrics and the values it may take (`other` aside). */
export const CHAT_LABELS = {
  handshakeOutcome: { name: 'outcome', values: ['accepted', 'refused'] },
  handshakeReason: { name: 'reason', values: ['none', ...HANDSHAKE_REFUSALS] },
  messageOutcome: { name: 'outcome', values: MESSAGE_OUTCOMES },
  errorCode: { name: 'code', values: Object.keys(ERROR_CODES) },
  closeReason: { name: 'reason', values: CLOSE_REASONS },
  replayKind: { name: 'kind', values: REPLAY_KINDS },
  enforcementKind: { name: 'kind', values: ENFORCEMENT_KINDS },
} as const satisfies Record<string, LabelSpec>;

/**
 * What goes over the sockets, as plain numbers: the edge adds to them on every frame,
 * which is the one per-socket-write cost of the metrics (an addition).
 */
export interface WireTally {
  bytesIn: number;
  framesIn: number;
  bytesOut: number;
  framesOut: number;
}

/** What the metrics read from the node when scraped. */
export interface NodeView {
  connections(): number;
  rooms(): number;
}

/**
 * What the chat node's parts count. Every method is cheap: a few additions, and a
 * histogram observation per fan-out (never per recipient) or per replay.
 */
export interface ChatMetrics {
  readonly wire: WireTally;
  /** The node whose connections and rooms the gauges report. */
  observe(view: NodeView): void;
  /** A handshake accepted (no reason) or refused for `reason`. */
  handshake(reason?: string): void;
  message(kind: 'send' | 'dm', outcome: MessageOutcome): void;
  /** An `error` frame sent to a client. */
  error(code: ErrorCode): void;
  joined(): void;
  /** Memberships ended: a leave request, or the rooms of a connection that closed. */
  left(count?: number): void;
  /**
   * One fan-out wrote `count` message frames; `frame` (a message, not presence) gives the
   * publishing node's `ts`, from which the delivery time is observed once.
   */
  delivered(count: number, frame?: Buffer): void;
  /** A close the server began, by a CLOSE_REASONS value (anything else counts as other). */
  closed(reason: CloseReason | (string & {})): void;
  replayed(kind: ReplayKind, messages: number): void;
  /** The subscriber reconnected and `rooms` were caught up from their streams. */
  resubscribed(rooms: number): void;
  enforcement(kind: EnforcementEvent['kind']): void;
  /** This node's send blocked a user (BLOCK_AFTER_VIOLATIONS reached). */
  blocked(): void;
}

/** The chat metrics of one node, in `registry`. */
export function createChatMetrics(registry: Registry): ChatMetrics {
  const L = CHAT_LABELS;
  let view: NodeView = { connections: () => 0, rooms: () => 0 };
  pulledGauge(registry, { name: 'securechat_chat_connections', help: 'Open WebSockets on this node' }, () =>
    view.connections(),
  );
  pulledGauge(
    registry,
    {
      name: 'securechat_chat_rooms',
      help: 'Rooms with at least one member on this node (subscribed channels)',
    },
    () => view.rooms(),
  );
  const handshakes = new Tally(
    registry,
    { name: 'securechat_chat_handshakes_total', help: 'WebSocket handshakes by outcome and refusal reason' },
    [L.handshakeOutcome, L.handshakeReason],
    [['accepted', 'none'], ...HANDSHAKE_REFUSALS.map((r) => ['refused', r])],
  );
  const messages = new Tally(
    registry,
    { name: 'securechat_chat_messages_total', help: 'send and dm requests by outcome' },
    [L.messageOutcome],
    MESSAGE_OUTCOMES.map((o) => [o]),
  );
  const dms = new Tally(
    registry,
    {
      name: 'securechat_chat_dms_total',
      help: 'dm requests by outcome (also in securechat_chat_messages_total)',
    },
    [L.messageOutcome],
    MESSAGE_OUTCOMES.map((o) => [o]),
  );
  const errors = new Tally(
    registry,
    { name: 'securechat_chat_errors_total', help: 'error frames sent to clients, by code' },
    [L.errorCode],
    L.errorCode.values.map((c) => [c]),
  );
  const joins = new Count(registry, { name: 'securechat_chat_joins_total', help: 'Rooms joined' });
  const leaves = new Count(registry, {
    name: 'securechat_chat_leaves_total',
    help: 'Rooms left (a leave request or the connection closing)',
  });
  const deliveries = new Count(registry, {
    name: 'securechat_chat_deliveries_total',
    help: 'Message frames written to sockets (live, held during a join, replayed)',
  });
  const latency = new Distribution(registry, {
    name: 'securechat_chat_delivery_seconds',
    help: 'From the publishing node stamping a message (its ts) to this node writing it to its last local member',
    buckets: LATENCY_BUCKETS,
  });
  const closes = new Tally(
    registry,
    { name: 'securechat_chat_closes_total', help: 'Server-initiated closes by reason' },
    [L.closeReason],
    CLOSE_REASONS.map((r) => [r]),
  );
  const replays = new Distribution(
    registry,
    {
      name: 'securechat_chat_replay_messages',
      help: 'Messages read back per replay: a join with since, or a catch-up after a resubscribe',
      buckets: SIZE_BUCKETS,
    },
    [L.replayKind],
    REPLAY_KINDS.map((k) => [k]),
  );
  const resubscribes = new Count(registry, {
    name: 'securechat_chat_resubscribes_total',
    help: 'Times the subscriber reconnected with rooms to catch up',
  });
  const enforcement = new Tally(
    registry,
    {
      name: 'securechat_chat_enforcement_events_total',
      help: 'Revocations and blocks heard from the cluster',
    },
    [L.enforcementKind],
    ENFORCEMENT_KINDS.map((k) => [k]),
  );
  const blocks = new Count(registry, {
    name: 'securechat_chat_blocks_total',
    help: 'Users this node blocked automatically (BLOCK_AFTER_VIOLATIONS reached)',
  });
  const wire: WireTally = { bytesIn: 0, framesIn: 0, bytesOut: 0, framesOut: 0 };
  const wireCounter = (name: string, help: string, read: () => number) =>
    pulledCounter(registry, { name, help }, read);
  wireCounter(
    'securechat_chat_received_bytes_total',
    'Bytes of WebSocket messages received',
    () => wire.bytesIn,
  );
  wireCounter('securechat_chat_received_frames_total', 'WebSocket messages received', () => wire.framesIn);
  wireCounter('securechat_chat_sent_bytes_total', 'Bytes of WebSocket frames written', () => wire.bytesOut);
  wireCounter('securechat_chat_sent_frames_total', 'WebSocket frames written', () => wire.framesOut);

  return {
    wire,
    observe: (v) => {
      view = v;
    },
    handshake: (reason) => {
      if (reason === undefined) handshakes.inc(1, 'accepted', 'none');
      else handshakes.inc(1, 'refused', reason);
    },
    message: (kind, outcome) => {
      messages.inc(1, outcome);
      if (kind === 'dm') dms.inc(1, outcome);
    },
    error: (code) => errors.inc(1, code),
    joined: () => joins.inc(),
    left: (count = 1) => leaves.inc(count),
    delivered: (count, frame) => {
      deliveries.inc(count);
      const ts = frame === undefined ? undefined : messageFrameTs(frame);
      if (ts !== undefined) latency.observe(Math.max(0, Date.now() - ts) / 1000);
    },
    closed: (reason) => closes.inc(1, reason),
    replayed: (kind, n) => replays.observe(n, kind),
    resubscribed: () => resubscribes.inc(),
    enforcement: (kind) => enforcement.inc(1, kind),
    blocked: () => blocks.inc(),
  };
}

/** Metrics that count nothing, for tests that do not look at them. */
export function noChatMetrics(): ChatMetrics {
  const nothing = () => undefined;
  return {
    wire: { bytesIn: 0, framesIn: 0, bytesOut: 0, framesOut: 0 },
    observe: nothing,
    handshake: nothing,
    message: nothing,
    error: nothing,
    joined: nothing,
    left: nothing,
    delivered: nothing,
    closed: nothing,
    replayed: nothing,
    resubscribed: nothing,
    enforcement: nothing,
    blocked: nothing,
  };
}

/** What both builds export: everything but the client and its transport. */
export * from './protocol';
export * from './parse';
export * from './errors';
export * from './message-id';
export * from './room-cursors';
export * from './backoff';
export * from './close-codes';
export * from './clock';
export * from './token';
export * from './emitter';
export * from './catch-up';
export type { TokenMethod, ConnectionHandlers, CoreConnectionSettings } from './connection';
export type { CommonChatClientOptions, ReconnectOptions } from './client-options';
export type { RateLimitedInfo } from './send-queue';
export type { Transport, TransportEvents, TransportFactory, DialParams, CloseDetail } from './transport';
export {
  AVOID_URL_MS,
  dmRoomOf,
  type ChatClientCore,
  type ChatClientEvents,
  type ChatClientState,
  type CaughtUpRoom,
  type ReadEvent,
  type ReconnectedInfo,
} from './client';

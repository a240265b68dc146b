import { utf8Bytes } from './format';

/**
 * The server closes a connection (1009) on any WebSocket message over
 * MAX_MESSAGE_BYTES, and the limit counts the whole JSON frame, not only the text: the
 * envelope, the room, the `ref` and the escaping of the text (a `"` takes two bytes, a
 * control character six, an emoji four). The page learns the limit from the server's
 * `welcome` and measures the frame it will really send.
 */

/** What the server documents as its default (docs/PROTOCOL.md), until `welcome` says. */
export const DEFAULT_MAX_MESSAGE_BYTES = 65_536;

/** A `ref` as long as the SDK's longest, so the estimate never falls short. */
const REF_ALLOWANCE = 'r'.repeat(24);

/** The bytes of the frame that would carry `text` to `room` (or as a DM to `to`). */
export function frameBytes(text: string, target: { room: string } | { to: string }): number {
  const frame =
    'to' in target
      ? { type: 'dm', to: target.to, text, ref: REF_ALLOWANCE }
      : { type: 'send', room: target.room, text, ref: REF_ALLOWANCE };
  return utf8Bytes(JSON.stringify(frame));
}

/** How many of the limit's bytes the text may still use: the room's envelope taken off. */
export function textBudget(maxMessageBytes: number, target: { room: string } | { to: string }): number {
  return maxMessageBytes - frameBytes('', target);
}

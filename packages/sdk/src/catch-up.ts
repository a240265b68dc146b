import { compareMessageIds } from './message-id';
import type { ChatMessage } from './protocol';

/** The server's largest `history` page. */
export const HISTORY_PAGE = 200;

export interface CatchUp {
  /** Oldest first, every one after `from`. */
  messages: ChatMessage[];
  /** More than `limit` messages came after `from`: only the newest `limit` are here. */
  truncated: boolean;
}

/**
 * The messages of a room after `from`, read backwards through `history` pages from the
 * newest until `from` is reached or `limit` messages were read: how the client catches
 * up a DM room it is not joined to (DMs reach it through the user's own channel, and a
 * join's replay would not cover a room it never joined).
 */
export async function messagesAfter(
  history: (before: string | undefined, limit: number) => Promise<ChatMessage[]>,
  from: string,
  limit: number,
): Promise<CatchUp> {
  const collected: ChatMessage[] = [];
  let before: string | undefined;
  while (collected.length < limit) {
    const want = Math.min(HISTORY_PAGE, limit - collected.length);
    const page = await history(before, want);
    const fresh = page.filter((m) => compareMessageIds(m.id, from) > 0);
    collected.unshift(...fresh);
    if (fresh.length < page.length || page.length < want || page.length === 0) {
      return { messages: collected, truncated: false };
    }
    before = (page[0] as ChatMessage).id;
  }
  // Filled up: truncated unless the very next page holds nothing newer than `from`.
  const probe = await history(before, 1);
  const more = probe.some((m) => compareMessageIds(m.id, from) > 0);
  return { messages: collected, truncated: more };
}

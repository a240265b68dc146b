import type { RedisLike } from './channel-subscriber';
import { dmRoomUsers, type KeySchema } from '@securechat/common';
import { INBOX_LIMITS, type Conversation, type Inbox, type ReadOutcome } from '../chat-ports';
import { compareIds } from '../stream-id';
import { toMessage } from './broker';
import { guard } from './errors';
import { luaScript } from './lua';

type InboxClient = RedisLike & {
  chatInboxRemember(rooms: string, read: string, ...args: (string | number)[]): Promise<number>;
  chatInboxRead(rooms: string, read: string, channel: string, ...args: string[]): Promise<string[]>;
  chatRoomTail(stream: string, marker: string, cap: number): Promise<[] | [string, string[], number]>;
};

function defineScripts(redis: RedisLike): InboxClient {
  const client = redis as InboxClient;
  if (typeof client.chatInboxRemember !== 'function') {
    redis.defineCommand('chatInboxRemember', { numberOfKeys: 2, lua: luaScript('inbox_remember') });
    redis.defineCommand('chatInboxRead', { numberOfKeys: 3, lua: luaScript('inbox_read') });
    redis.defineCommand('chatRoomTail', { numberOfKeys: 1, lua: luaScript('room_tail') });
  }
  return client;
}

/**
 * Where a join's read marker starts: every message stored before this millisecond is
 * read, every one from it on is not (ids are `<ms>-<seq>`; 9999999999 is the largest seq
 * the protocol accepts).
 */
export function markerAt(nowMs: number): string {
  return `${nowMs - 1}-9999999999`;
}

/** Activity order: newest message first, else when remembered; ties by name, for a stable list. */
export function byActivity(
  a: { activity: number; room: string },
  b: { activity: number; room: string },
): number {
  return b.activity - a.activity || (a.room < b.room ? -1 : a.room > b.room ? 1 : 0);
}

/**
 * The users' inboxes in Redis: `inbox:<user>:rooms` and `inbox:<user>:read` (one user's
 * keys per call or script), and each room's stream read with one script per room
 * (`room_tail.lua`), so no script spans two users or two rooms.
 */
export class RedisInbox implements Inbox {
  private readonly redis: InboxClient;

  constructor(
    redis: RedisLike,
    private readonly keys: KeySchema,
    private readonly now: () => number = Date.now,
  ) {
    this.redis = defineScripts(redis);
  }

  async remember(user: string, room: string): Promise<void> {
    const k = this.keys;
    const now = this.now();
    await guard(
      this.redis.chatInboxRemember(
        k.inboxRooms(user),
        k.inboxRead(user),
        room,
        now,
        INBOX_LIMITS.rooms,
        'update',
        dmRoomUsers(room) === undefined ? markerAt(now) : '',
      ),
    );
  }

  async rememberDirect(room: string, users: readonly string[]): Promise<void> {
    const k = this.keys;
    const now = this.now();
    await guard(
      Promise.all(
        users.map((user) =>
          this.redis.chatInboxRemember(
            k.inboxRooms(user),
            k.inboxRead(user),
            room,
            now,
            INBOX_LIMITS.rooms,
            'nx',
            '',
          ),
        ),
      ),
    );
  }

  async forget(user: string, room: string): Promise<void> {
    await guard(
      this.redis.multi().zrem(this.keys.inboxRooms(user), room).hdel(this.keys.inboxRead(user), room).exec(),
    );
  }

  async rooms(user: string): Promise<string[]> {
    return guard(this.redis.zrange(this.keys.inboxRooms(user), '0', '-1'));
  }

  async conversations(user: string): Promise<Conversation[]> {
    const k = this.keys;
    const [scored, markers] = await guard(
      Promise.all([
        this.redis.zrange(k.inboxRooms(user), '0', '-1', 'WITHSCORES'),
        this.redis.hgetall(k.inboxRead(user)),
      ]),
    );
    const rooms: { room: string; remembered: number }[] = [];
    for (let i = 0; i + 1 < scored.length; i += 2) {
      rooms.push({ room: scored[i] as string, remembered: Number(scored[i + 1]) });
    }
    // One script per room, pipelined: one round trip, and each script touches one stream.
    const tails = await guard(
      Promise.all(
        rooms.map(({ room }) =>
          // hgetall gives a plain object: `constructor` is a valid room name.
          this.redis.chatRoomTail(
            k.roomLog(room),
            Object.hasOwn(markers, room) ? (markers[room] as string) : '',
            INBOX_LIMITS.unread,
          ),
        ),
      ),
    );
    const items: (Conversation & { activity: number })[] = [];
    rooms.forEach(({ room, remembered }, i) => {
      const tail = tails[i] ?? [];
      if (tail.length === 0) {
        // A DM room exists only through its messages.
        if (dmRoomUsers(room) === undefined) items.push({ room, unread: 0, activity: remembered });
        return;
      }
      const last = toMessage(room, [tail[0], tail[1]]);
      items.push({ room, last, unread: Number(tail[2]), activity: Number(last.id.split('-')[0]) });
    });
    return items.sort(byActivity).map(({ activity: _activity, ...item }) => item);
  }

  async markRead(user: string, room: string, id: string, session: string): Promise<ReadOutcome> {
    const k = this.keys;
    const tail = await guard(this.redis.chatRoomTail(k.roomLog(room), '', 0));
    if (tail.length === 0) return { status: 'empty' };
    const newest = tail[0];
    const mark = compareIds(id, newest) > 0 ? newest : id;
    const [status, marker] = await guard(
      this.redis.chatInboxRead(
        k.inboxRooms(user),
        k.inboxRead(user),
        k.userChannel(user),
        room,
        mark,
        session,
        k.channelPublish,
      ),
    );
    if (status === 'unknown' || marker === undefined) return { status: 'unknown' };
    return { status: status === 'kept' ? 'kept' : 'moved', id: marker };
  }
}

import { compareParsedIds, parseMessageId, type ParsedMessageId } from './message-id';

interface Cursor {
  id: string;
  parsed: ParsedMessageId;
}

/**
 * The last message id delivered per room: where a rejoin resumes (`since`) and the
 * high-water mark that drops duplicates. A mark (rather than a set of seen ids) is enough
 * because the server delivers a room's messages in id order, replay before live; a
 * replay that overlaps what was already delivered only ever repeats ids at or below it.
 */
export class RoomCursors {
  private readonly cursors = new Map<string, Cursor>();

  /**
   * Records a delivered message; false when it is at or before the room's cursor, i.e. a
   * duplicate. An id that is not a stream id cannot be ordered: it is let through and
   * leaves the cursor alone.
   */
  accept(room: string, id: string): boolean {
    const parsed = parseMessageId(id);
    if (!parsed) return true;
    const current = this.cursors.get(room);
    if (current && compareParsedIds(parsed, current.parsed) <= 0) return false;
    this.cursors.set(room, { id, parsed });
    return true;
  }

  get(room: string): string | undefined {
    return this.cursors.get(room)?.id;
  }

  /** Moves the cursor to `id`, backwards too: an explicit `since` asks for a replay. */
  set(room: string, id: string): void {
    const parsed = parseMessageId(id);
    if (parsed) this.cursors.set(room, { id, parsed });
    else this.cursors.delete(room);
  }

  delete(room: string): void {
    this.cursors.delete(room);
  }

  /** Rooms with a cursor. */
  rooms(): string[] {
    return [...this.cursors.keys()];
  }
}

/** Where one connection of the workload goes. */
export interface Slot {
  readonly index: number;
  readonly room: string;
  readonly publisher: boolean;
  readonly node: number;
  readonly worker: number;
}

/**
 * The workload's connections: rooms of `roomSize` consecutive connections, the first
 * member of each room its publisher; connections spread round-robin over the nodes (so
 * every room has members on every node) and whole rooms spread over the load
 * generators (so a message is timed on one clock).
 */
export function layout(connections: number, roomSize: number, nodes: number, workers: number): Slot[] {
  const rooms = Math.ceil(connections / roomSize);
  const width = String(rooms - 1).length;
  return Array.from({ length: connections }, (_, index) => {
    const roomIndex = Math.floor(index / roomSize);
    return {
      index,
      room: `r${String(roomIndex).padStart(width, '0')}`,
      publisher: index % roomSize === 0,
      node: index % nodes,
      worker: roomIndex % workers,
    };
  });
}

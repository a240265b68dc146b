import { Cluster, type Redis } from 'ioredis';

/**
 * ioredis writes every command to its socket as it is issued: one `write` system call
 * per command. A chat node issues several at once (a handshake's revocation and blocklist
 * checks, a join's commands, a resubscription's batches), and in a reconnect storm those
 * system calls were the largest single item of a node's CPU profile (docs/BENCHMARKS.md).
 *
 * `coalesceWrites` corks a connection's socket at the first command of a turn of
 * JavaScript (an I/O callback, a timer, with the promise continuations that follow it)
 * and uncorks it on `process.nextTick`, before control returns to the event loop: the
 * commands of that turn leave in one `writev`. No command waits for other I/O (the write
 * happens in the same turn, as before), nothing is reordered (the socket's bytes keep
 * their order, and replies are matched to commands in that order), and a lone command
 * costs a cork, an uncork and a tick. Uncorking at the end of the loop iteration instead
 * (`setImmediate`) batched more in storms but let commands wait behind a whole poll
 * phase: the steady-rate bench's p99 rose. ioredis's own `enableAutoPipelining` does the
 * job with a pipeline object, a promise and a queue per batch, which cost more per
 * message than they saved at steady rates (measured, docs/BENCHMARKS.md).
 */
export function coalesceWrites(client: Redis | Cluster): void {
  if (client instanceof Cluster) {
    for (const node of client.nodes('all')) coalesceConnection(node);
    client.on('+node', (node: Redis) => coalesceConnection(node));
    return;
  }
  coalesceConnection(client);
}

/** A corkable socket: what ioredis keeps in `stream` (net.Socket or tls.TLSSocket). */
interface Corkable {
  cork(): void;
  uncork(): void;
  readonly writable: boolean;
}

const COALESCED = Symbol('securechat.coalescedWrites');

/**
 * At most this many commands wait in a cork: a long turn (a resubscription of thousands
 * of channels, a batch of expiries) sends its commands every few dozen, so Redis works on
 * them while the turn goes on.
 */
export const MAX_CORKED_COMMANDS = 64;

function coalesceConnection(redis: Redis): void {
  const marked = redis as Redis & { [COALESCED]?: true };
  if (marked[COALESCED] === true) return;
  marked[COALESCED] = true;
  let corked: Corkable | undefined;
  let count = 0;
  const flush = (): void => {
    const socket = corked;
    corked = undefined;
    socket?.uncork();
  };
  const original = redis.sendCommand.bind(redis);
  redis.sendCommand = (...args: Parameters<Redis['sendCommand']>): unknown => {
    if (corked === undefined) {
      const socket = (redis as { stream?: Corkable }).stream;
      if (socket !== undefined && socket.writable) {
        socket.cork();
        corked = socket;
        count = 0;
        process.nextTick(flush);
      }
    } else if (++count >= MAX_CORKED_COMMANDS) {
      // Send what waits and go on corked: the tick still ends this turn's cork.
      corked.uncork();
      corked.cork();
      count = 0;
    }
    return original(...args);
  };
}

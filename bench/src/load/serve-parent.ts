import type { WorkerReply } from './protocol';

/**
 * The child side of a forked bench process: every request from the parent (an object
 * with a numeric `id` and an `op`) goes to `handle`, and its result or error goes back
 * with the same id. The process exits when the parent goes, or after answering `close`.
 */
export function serveParent(handle: (request: { id: number; op: string }) => Promise<unknown>): void {
  const send = process.send?.bind(process);
  if (send === undefined) {
    process.stderr.write('a bench load generator must be started with child_process.fork\n');
    process.exit(2);
  }
  process.on('message', (raw: unknown) => {
    if (typeof raw !== 'object' || raw === null) return;
    const envelope = raw as { id?: unknown; op?: unknown };
    if (typeof envelope.id !== 'number' || typeof envelope.op !== 'string') return;
    const request = { ...envelope, id: envelope.id, op: envelope.op };
    handle(request).then(
      (result) => {
        send({ id: request.id, ok: true, result } satisfies WorkerReply, () => {
          if (request.op === 'close') process.disconnect();
        });
      },
      (err: unknown) => {
        const error = err instanceof Error ? err.message : String(err);
        send({ id: request.id, ok: false, error } satisfies WorkerReply);
      },
    );
  });
  process.on('disconnect', () => setTimeout(() => process.exit(0), 200).unref());
}

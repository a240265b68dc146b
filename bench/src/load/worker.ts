import { LoadGenerator } from './load-generator';
import type { WorkerEnvelope, WorkerReply } from './protocol';

/**
 * Entry point of a load generator process, forked by the bench. It answers each request
 * from the parent with a reply carrying the same id, and exits when the parent goes.
 */
function main(): void {
  const send = process.send?.bind(process);
  if (send === undefined) {
    process.stderr.write('load generator must be started with child_process.fork\n');
    process.exit(2);
  }
  const generator = new LoadGenerator();
  process.on('message', (raw: unknown) => {
    const envelope = raw as WorkerEnvelope;
    if (typeof envelope !== 'object' || envelope === null || typeof envelope.id !== 'number') return;
    generator.handle(envelope).then(
      (result) => {
        send({ id: envelope.id, ok: true, result } satisfies WorkerReply, () => {
          if (envelope.op === 'close') process.disconnect();
        });
      },
      (err: unknown) => {
        const error = err instanceof Error ? err.message : String(err);
        send({ id: envelope.id, ok: false, error } satisfies WorkerReply);
      },
    );
  });
  process.on('disconnect', () => setTimeout(() => process.exit(0), 200).unref());
}

main();

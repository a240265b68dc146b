import { LoadGenerator } from './load-generator';
import type { WorkerEnvelope } from './protocol';
import { serveParent } from './serve-parent';

/**
 * Entry point of a load generator process, forked by the bench. It answers each request
 * from the parent with a reply carrying the same id, and exits when the parent goes.
 */
const generator = new LoadGenerator();
serveParent((request) => generator.handle(request as WorkerEnvelope));

import { serveParent } from '../load/serve-parent';
import { StormGenerator } from './generator';
import type { StormRequest } from './protocol';

/** Entry point of a storm load generator process, forked by `npm run bench -- --storm=N`. */
const generator = new StormGenerator();
serveParent((request) => generator.handle(request as StormRequest));

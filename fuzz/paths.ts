// Where the fuzz data lives. Compiled code runs from dist/fuzz/, the committed data stays in fuzz/.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** Committed seeds, one folder per target. */
export const corpusDir = (target: string): string => join(REPO, 'fuzz', 'corpus', target);
/** Committed inputs that once broke an invariant; test/fuzz-regressions.test.ts replays them on every `npm test`. */
export const regressionDir = (target: string): string => join(REPO, 'fuzz', 'regressions', target);
/** Not committed: inputs a run found interesting, and findings waiting to be turned into regressions. */
export const workDir = (target: string): string => join(REPO, 'fuzz', 'out', target);

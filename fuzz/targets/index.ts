// Every fuzz target by name. Each lives in its own file so an API change touches one small file.
import type { Target } from '../target.js';

type Loader = () => Promise<Target>;
const load = (p: Promise<{ default: Target }>): Promise<Target> => p.then((m) => m.default);

export const TARGETS: Record<string, Loader> = {
  'client-hello': () => load(import('./client-hello.js')),
  'pop3-framer': () => load(import('./pop3-framer.js')),
  'smtp-framer': () => load(import('./smtp-framer.js')),
  'smtp-reply': () => load(import('./smtp-reply.js')),
  'imap-tokenizer': () => load(import('./imap-tokenizer.js')),
  'imap-fetch': () => load(import('./imap-fetch.js')),
  'handshake-tap': () => load(import('./handshake-tap.js')),
  'mime-walk': () => load(import('./mime-walk.js')),
  archive: () => load(import('./archive.js')),
  'clamd-reply': () => load(import('./clamd-reply.js')),
  config: () => load(import('./config.js')),
};

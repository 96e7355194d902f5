// Temporary: the TLS facts vocabulary moved to src/core/tls-facts.ts (issue 14), because the session contract in
// core carries it. src/scan still imports this path; the issue 15 branch moves those imports, then this file goes.
export type * from '../core/tls-facts.js';

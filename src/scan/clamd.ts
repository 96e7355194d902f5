// What clamd's addresses and replies mean: pure, shared by the clamd engine (src/io/clamd-engine.ts, which owns the
// socket and the wait for a free slot) and doctor.
import { splitHostPort } from '../core/hosts.js';
import { ShieldError } from '../core/errors.js';

export type ClamdAddress = { path: string } | { host: string; port: number };

export function formatClamdAddress(a: ClamdAddress): string {
  return 'path' in a ? `unix:${a.path}` : `${a.host}:${a.port}`;
}

/** `unix:/path`, `/path` or `host:port`. */
export function parseClamdAddress(s: string): ClamdAddress {
  if (s.startsWith('unix:')) return { path: s.slice(5) };
  if (s.startsWith('/')) return { path: s };
  try {
    return splitHostPort(s);
  } catch {
    throw new ShieldError(
      'MS_ERR_CONFIG_INVALID',
      `scan.clamd.address: expected unix:/path, /path or host:port, found "${s}"`,
    );
  }
}

export type ClamdReply = { kind: 'ok' } | { kind: 'found'; signature: string } | { kind: 'error'; message: string };

/** Parses one INSTREAM reply: "stream: OK", "stream: Name FOUND", "... ERROR" (NUL-terminated with the z prefix). */
export function parseClamdReply(raw: string): ClamdReply {
  // The reply ends at its NUL: the connector stops reading at the chunk holding it, so bytes after it depend on how
  // the reply was split and must not change the verdict.
  const nul = raw.indexOf('\0');
  const text = (nul >= 0 ? raw.slice(0, nul) : raw).trim();
  const found = /^(?:stream: )?(.+) FOUND$/.exec(text);
  if (found) return { kind: 'found', signature: found[1]!.trim() };
  if (/^(?:stream: )?OK$/.test(text)) return { kind: 'ok' };
  if (/ ERROR$/.test(text)) return { kind: 'error', message: text.replace(/ ERROR$/, '') };
  return { kind: 'error', message: `unexpected reply "${text.slice(0, 200)}"` };
}

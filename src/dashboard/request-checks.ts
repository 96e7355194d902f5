// The checks every dashboard request passes before any route runs: the Host header (DNS rebinding, the class of
// mitmweb's CVE-2018-14505) and, for anything that changes state, a same-origin JSON POST (CSRF). Pure.
import { isLoopbackHost } from '../core/hosts.js';

export interface HostPolicy {
  /** Names and addresses the dashboard answers to besides loopback: dashboard.hosts and the listen host. */
  names: string[];
  port: number;
}

/** "host" or "host:port" or "[v6]:port" from a Host header, lower-cased; null when malformed. */
export function hostOf(header: string | undefined): { host: string; port: number | null } | null {
  if (!header) return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(header.trim());
  if (!m) return null;
  return { host: m[1]!.toLowerCase(), port: m[2] === undefined ? null : Number(m[2]) };
}

export function hostAllowed(header: string | undefined, p: HostPolicy): boolean {
  const h = hostOf(header);
  if (!h) return false;
  if (h.port !== null && h.port !== p.port) return false;
  const names = p.names.map((n) => (n.includes(':') && !n.startsWith('[') ? `[${n}]` : n).toLowerCase());
  return isLoopbackHost(h.host) || names.includes(h.host);
}

export type CsrfVerdict = { ok: true } | { ok: false; reason: string };

/**
 * A change must come from our own page: a JSON body (a form or a no-CORS fetch cannot send one cross-site without a
 * preflight), an Origin equal to the Host the request went to, and Sec-Fetch-Site same-origin when the browser
 * sends it.
 */
export function csrfCheck(h: {
  method: string;
  host: string | undefined;
  origin: string | undefined;
  contentType: string | undefined;
  secFetchSite: string | undefined;
}): CsrfVerdict {
  if (h.method === 'GET' || h.method === 'HEAD') return { ok: true };
  if (h.method !== 'POST') return { ok: false, reason: 'only GET and POST are allowed' };
  if (!/^application\/json(\s*;|$)/i.test(h.contentType ?? '')) return { ok: false, reason: 'a change must be JSON' };
  if (h.secFetchSite !== undefined && h.secFetchSite !== 'same-origin')
    return { ok: false, reason: `cross-site request (Sec-Fetch-Site: ${h.secFetchSite})` };
  if (!h.origin || h.origin !== `http://${h.host}`)
    return { ok: false, reason: `origin ${h.origin ?? '(none)'} refused` };
  return { ok: true };
}

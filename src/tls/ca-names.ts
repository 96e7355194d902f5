// The names the local CA may vouch for, as X.509 name constraints: parsing and canonical forms of DNS names, IPs and
// networks, the set a configuration asks for, and the NameConstraints extension itself. Pure: the CA (ca.ts) and the
// leaf cache (leaf-cache.ts) both filter by these rules, so they cannot disagree on what a name covers.
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  NameConstraints,
  id_ce_nameConstraints,
} from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import type { Config } from '../core/config.js';
import { ShieldError } from '../core/errors.js';
import { ipFamily, splitHostPort } from '../core/hosts.js';

/** One permitted subtree: a DNS name (itself and every subdomain) or an IP network. */
export type PermittedName =
  { kind: 'dns'; name: string } | { kind: 'ip'; family: 4 | 6; bytes: Uint8Array; prefix: number };

const DNS_LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Lowercase, no trailing dot, LDH labels; null when it is not a host name. */
export function normalizeDnsName(s: string): string | null {
  const n = s.trim().toLowerCase().replace(/\.$/, '');
  if (n.length === 0 || n.length > 253) return null;
  return n.split('.').every((l) => DNS_LABEL.test(l)) ? n : null;
}

/** Parses an IPv4 or IPv6 address (brackets, an IPv4 tail and IPv4-mapped IPv6 allowed) into 4 or 16 bytes. */
export function parseIp(s: string): Uint8Array | null {
  let t = s.trim();
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  const fam = ipFamily(t);
  if (fam === 4) return Uint8Array.from(t.split('.').map(Number));
  if (fam !== 6) return null;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (tail) {
    const b = tail[1]!.split('.').map(Number);
    t = t.slice(0, -tail[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [left, right] = t.includes('::') ? t.split('::') : [t, undefined];
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const groups = right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  // An IPv4-mapped address (::ffff:a.b.c.d, what a dual-stack socket reports) is the IPv4 address.
  if (out.subarray(0, 10).every((x) => x === 0) && out[10] === 0xff && out[11] === 0xff) return out.slice(12);
  return out;
}

/** Canonical text of an address: dotted IPv4, RFC 5952 IPv6 (the URL parser compresses it for us). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

/** Full, uncompressed IPv6 groups: the form @peculiar's IP converter parses reliably. */
function ipForAsn(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIp(bytes);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

function invalidName(s: string, why: string): ShieldError {
  return new ShieldError('MS_ERR_CONFIG_INVALID', `ca name "${s}" is not usable as a name constraint: ${why}`, {
    fix: 'use a host name (it also permits its subdomains), an IP address, or an IP network such as 192.168.1.0/24 in ca.extraNames',
  });
}

/** Parses one permitted-name string: "localhost", "mail.lan", "127.0.0.0/8", "::1", "192.168.1.5". */
export function parsePermittedName(s: string): PermittedName {
  const slash = s.indexOf('/');
  const addr = slash >= 0 ? s.slice(0, slash) : s;
  const bytes = parseIp(addr);
  if (bytes) {
    const max = bytes.length * 8;
    const prefix = slash >= 0 ? Number(s.slice(slash + 1)) : max;
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw invalidName(s, `prefix must be 0..${max}`);
    return { kind: 'ip', family: bytes.length === 4 ? 4 : 6, bytes: maskBytes(bytes, prefix), prefix };
  }
  if (slash >= 0) throw invalidName(s, 'a prefix needs an IP address');
  if (s.includes('*') || s.startsWith('.'))
    throw invalidName(s, 'write the parent name without a wildcard; a name constraint permits every subdomain');
  const dns = normalizeDnsName(s);
  if (!dns) throw invalidName(s, 'not a host name or IP address');
  return { kind: 'dns', name: dns };
}

export function formatPermittedName(p: PermittedName): string {
  if (p.kind === 'dns') return p.name;
  return p.prefix === p.bytes.length * 8 ? formatIp(p.bytes) : `${formatIp(p.bytes)}/${p.prefix}`;
}

/**
 * Whether a requested leaf name (DNS name or IP) falls inside one of the permitted subtrees, by the same rules a
 * verifier applies (RFC 5280 §4.2.1.10): a DNS name equal to or below a permitted name; an IP inside a network.
 * Returns the canonical form of the name when it does, else null.
 */
export function permittedForm(name: string, permitted: readonly PermittedName[]): string | null {
  const ip = parseIp(name);
  if (ip) {
    const ok = permitted.some(
      (p) =>
        p.kind === 'ip' && p.bytes.length === ip.length && maskBytes(ip, p.prefix).every((b, i) => b === p.bytes[i]),
    );
    return ok ? formatIp(ip) : null;
  }
  const dns = normalizeDnsName(name);
  if (!dns) return null;
  const ok = permitted.some((p) => p.kind === 'dns' && (dns === p.name || dns.endsWith(`.${p.name}`)));
  return ok ? dns : null;
}

/** True when `p` is already inside one of `others` (so it need not be listed separately). */
export function coveredBy(p: PermittedName, others: readonly PermittedName[]): boolean {
  if (p.kind === 'dns') return permittedForm(p.name, others) !== null;
  return others.some(
    (o) =>
      o.kind === 'ip' &&
      o.bytes.length === p.bytes.length &&
      o.prefix <= p.prefix &&
      maskBytes(p.bytes, o.prefix).every((b, i) => b === o.bytes[i]),
  );
}

/** Parses, canonicalizes and drops names already covered by an earlier (or broader) entry. */
export function normalizePermittedNames(names: readonly string[]): PermittedName[] {
  let out: PermittedName[] = [];
  for (const p of names.map(parsePermittedName)) {
    if (coveredBy(p, out)) continue;
    out = [...out.filter((q) => !coveredBy(q, [p])), p];
  }
  return out;
}

/** Unspecified listen addresses (0.0.0.0, ::) name no host a client could verify; LAN names go in ca.extraNames. */
function isUnspecified(host: string): boolean {
  const b = parseIp(host);
  return b !== null && b.every((x) => x === 0);
}

/**
 * The names the CA may issue for: loopback (localhost, 127.0.0.0/8, ::1), each account's listen host, the
 * intercept listener and intercept.domains when intercept mode is on, and ca.extraNames.
 * Canonical strings, duplicates and covered names dropped.
 */
export function caPermittedNames(config: Config): string[] {
  const names = ['localhost', '127.0.0.0/8', '::1'];
  for (const a of config.accounts) {
    const { host } = splitHostPort(a.listen);
    if (!isUnspecified(host)) names.push(host);
  }
  // Intercepted clients verify the real server's name, so the leaves carry it: exactly the listed domains.
  if (config.intercept.enabled) {
    const { host } = splitHostPort(config.intercept.listen);
    if (!isUnspecified(host)) names.push(host);
    names.push(...config.intercept.domains);
  }
  names.push(...config.ca.extraNames);
  return normalizePermittedNames(names).map(formatPermittedName);
}

/**
 * How a CA's permitted subtrees differ from what the configuration asks for now. `missing`: names leaves need but
 * the CA cannot vouch for. `extra`: names the CA still vouches for although the configuration dropped them (a domain
 * removed from intercept.domains stays interceptable by whoever holds the key). Either means `mailshield ca rotate`.
 */
export function caNamesDrift(permitted: readonly PermittedName[], requested: readonly string[]) {
  const want = normalizePermittedNames(requested);
  return {
    missing: want.filter((p) => !coveredBy(p, permitted)).map(formatPermittedName),
    extra: permitted.filter((p) => !coveredBy(p, want)).map(formatPermittedName),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The NameConstraints extension (2.5.29.30). @peculiar/x509 has no class for it, so it is encoded with
// @peculiar/asn1-x509's schema: dNSName for names, iPAddress as address followed by mask bytes (RFC 5280).

export function nameConstraintsExtension(permitted: readonly PermittedName[]): x509.Extension {
  const subtrees = permitted.map(
    (p) =>
      new GeneralSubtree({
        base: new GeneralName(
          p.kind === 'dns' ? { dNSName: p.name } : { iPAddress: `${ipForAsn(p.bytes)}/${p.prefix}` },
        ),
      }),
  );
  const nc = new NameConstraints({ permittedSubtrees: new GeneralSubtrees(subtrees) });
  // Critical: a verifier that cannot enforce the constraints must reject the CA rather than trust it unconstrained.
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(nc));
}

/** Reads the permitted subtrees back from a certificate; empty when it has no name constraints. */
export function readPermitted(cert: x509.X509Certificate): PermittedName[] {
  const ext = cert.getExtension(id_ce_nameConstraints);
  if (!ext) return [];
  const nc = AsnConvert.parse(ext.value, NameConstraints);
  const out: PermittedName[] = [];
  for (const st of nc.permittedSubtrees ?? []) {
    if (st.base.dNSName !== undefined) out.push({ kind: 'dns', name: st.base.dNSName.toLowerCase() });
    else if (st.base.iPAddress !== undefined) out.push(parsePermittedName(st.base.iPAddress));
  }
  return out;
}

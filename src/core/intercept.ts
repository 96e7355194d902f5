// Intercept mode's decisions, pure: which protocol and TLS mode a destination port means, which server name a
// redirected connection is verified against, and whether it is intercepted, relayed untouched or refused. The socket
// side (src/io/intercept/) gathers the facts (original destination, ClientHello SNI, DNS answers) and acts.
import { ipFamily } from './hosts.js';
import type { InterceptConfig } from './config.js';
import { ShieldError } from './errors.js';

export type InterceptProtocol = 'pop3' | 'imap' | 'smtp';
export type InterceptTls = 'implicit' | 'starttls';

export interface PortProfile {
  protocol: InterceptProtocol;
  /** How the client starts TLS on this port; the upstream leg uses the same mode (it is the same server port). */
  tls: InterceptTls;
}

/** IANA's mail ports (RFC 8314 for the implicit-TLS ones). */
const PORT_PROFILES: Readonly<Record<number, PortProfile>> = {
  25: { protocol: 'smtp', tls: 'starttls' },
  110: { protocol: 'pop3', tls: 'starttls' },
  143: { protocol: 'imap', tls: 'starttls' },
  465: { protocol: 'smtp', tls: 'implicit' },
  587: { protocol: 'smtp', tls: 'starttls' },
  993: { protocol: 'imap', tls: 'implicit' },
  995: { protocol: 'pop3', tls: 'implicit' },
};

export function profileForPort(port: number): PortProfile | null {
  return PORT_PROFILES[port] ?? null;
}

/** Lowercase, no trailing dot: the form names are compared in. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** The entry of `domains` that `name` is, or is below; null when none is. */
export function matchingDomain(name: string, domains: readonly string[]): string | null {
  const n = normalizeName(name);
  return domains.find((d) => n === d || n.endsWith(`.${d}`)) ?? null;
}

export interface Destination {
  ip: string;
  port: number;
}

export const formatDestination = (d: Destination): string =>
  ipFamily(d.ip) === 6 ? `[${d.ip}]:${d.port}` : `${d.ip}:${d.port}`;

/** Where the name to verify came from. */
export type NameSource = 'sni' | 'hosts';

export type NameChoice =
  /** Intercept, verifying the upstream as `name`. `needsDnsCheck`: confirm that `name` resolves to the destination. */
  | { kind: 'intercept'; name: string; source: NameSource; needsDnsCheck: boolean }
  /** Relay the raw bytes untouched: the name is not one of ours to inspect. */
  | { kind: 'passthrough'; name: string; reason: string }
  | { kind: 'refuse'; error: ShieldError };

/**
 * Decides from the ClientHello's SNI (null when the client sent none) and the configuration. A name outside
 * intercept.domains is relayed untouched: mailshield can only mint leaves for the listed domains, and intercepting a
 * server nobody listed would break it or silently take over traffic nobody asked to inspect.
 */
export function chooseName(dst: Destination, sni: string | null, ic: Pick<InterceptConfig, 'domains' | 'hosts'>) {
  const listed = ic.hosts[dst.ip] ?? null;
  if (sni !== null && sni !== '') {
    const name = normalizeName(sni);
    if (!matchingDomain(name, ic.domains))
      return {
        kind: 'passthrough',
        name,
        reason: `${name} is not inside intercept.domains (${ic.domains.join(', ')})`,
      } satisfies NameChoice as NameChoice;
    // A hosts entry naming this very server vouches for the address; anything else must be confirmed by DNS.
    return { kind: 'intercept', name, source: 'sni', needsDnsCheck: listed !== name } satisfies NameChoice;
  }
  if (listed) return { kind: 'intercept', name: listed, source: 'hosts', needsDnsCheck: false } satisfies NameChoice;
  const where = formatDestination(dst);
  return {
    kind: 'refuse',
    error: new ShieldError(
      'MS_ERR_INTERCEPT_NO_NAME',
      `mailshield intercepted this connection to ${where}, but the mail client sent no server name (SNI), so mailshield cannot tell which server certificate to verify`,
      {
        fix: `add the server's name for this address to the configuration (intercept.hosts: {${dst.ip}: mail.example.com}), or point the mail client at its server by name`,
      },
    ),
  } satisfies NameChoice as NameChoice;
}

/**
 * The destination must be an address the verified name resolves to: otherwise a client (or malware in it) could send
 * SNI "mail.listed.test" to any address and have mailshield vouch for that address under a listed name.
 * `resolved` is null when the lookup failed (`lookupError` says why).
 */
export function checkDestination(
  dst: Destination,
  name: string,
  resolved: readonly string[] | null,
  lookupError?: string,
): ShieldError | null {
  const canon = (ip: string) => ip.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
  if (resolved?.some((ip) => canon(ip) === canon(dst.ip))) return null;
  const where = formatDestination(dst);
  const found = resolved
    ? resolved.length
      ? `${name} resolves to ${resolved.join(', ')}`
      : `${name} has no address`
    : `${name} could not be resolved (${lookupError ?? 'lookup failed'})`;
  return new ShieldError(
    'MS_ERR_INTERCEPT_DESTINATION',
    `mailshield intercepted a connection to ${where} for ${name}, but ${found}, so the server there cannot be verified as ${name}`,
    {
      fix: `if ${dst.ip} really serves ${name}, add it to the configuration (intercept.hosts: {${dst.ip}: ${name}})`,
    },
  );
}

// The upstream connector: TCP, then TLS to the real mail server, judged by the upstream policy.
//
// The handshake itself is permissive (TLS 1.0-1.3, CBC suites, SHA-1 handshake signatures offered last, security
// level 0) and every rule is applied afterwards to what the server actually did, before a single application byte
// is written. That is what lets a refusal say "signed its key exchange with RSA+SHA1" instead of OpenSSL's bare
// "handshake failure". Offering old versions costs nothing against a modern server: it picks its newest version,
// and OpenSSL's TLS 1.3 downgrade sentinel stops an attacker from forcing an older one.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { PolicyException, UpstreamPolicyName } from '../core/config.js';
import { ShieldError, type ErrorCode } from '../core/errors.js';
import { hostnameMismatch, spkiPin, summarizeChain } from '../tls/cert-check.js';
import type { UpstreamHandshakeFacts } from '../core/tls-facts.js';
import { createTap, serverHandshakeSecretFrom, type ObservedHandshake } from '../tls/handshake-tap.js';
import { formatTempKey } from '../tls/names.js';
import { OFFERED_CIPHERS, OFFERED_NON_FS_CIPHERS, OFFERED_SIGALGS, UPSTREAM_PROFILES } from '../tls/profiles.js';
import { shadowUpstream } from '../tls/shadow-policy.js';
import { evaluateUpstream, refusalError, type UpstreamFactsInput } from '../tls/upstream-policy.js';

export interface UpstreamTarget {
  account: string;
  host: string;
  port: number;
  /** Name for SNI and certificate verification: always from configuration, never an IP the host resolved to. */
  servername: string;
  /** Extra trust anchors (PEM texts) added to the system store, from upstreamCa. */
  extraCa: string[];
  /** 'sha256/BASE64' of the server's SubjectPublicKeyInfo, from upstreamPin. */
  pin?: string;
  policy: UpstreamPolicyName;
  /** policy.candidate.upstream: judged too, recorded, never enforced. */
  candidate?: UpstreamPolicyName;
  exceptions: PolicyException[];
  now: Date;
  timeoutMs: number;
}

export type UpstreamTlsResult =
  | { ok: true; socket: tls.TLSSocket; facts: UpstreamHandshakeFacts }
  | { ok: false; error: ShieldError; facts: UpstreamHandshakeFacts | null };

const where = (t: { host: string; port: number }) => `${t.host}:${t.port}`;

export async function connectUpstreamTcp(t: UpstreamTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // noDelay for the same reason as the client listener (server.ts): no ~40 ms Nagle/delayed-ACK stall per reply.
    const sock = net.connect({ host: t.host, port: t.port, noDelay: true });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(
        new ShieldError(
          'MS_ERR_UPSTREAM_TIMEOUT',
          `upstream ${where(t)} did not accept a connection within ${t.timeoutMs} ms`,
          {
            fix: 'check the host and port in the account, and that this machine can reach it',
          },
        ),
      );
    }, t.timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(sock);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new ShieldError('MS_ERR_UPSTREAM_CONNECT', `cannot connect to upstream ${where(t)}: ${e.code ?? e.message}`, {
          fix: 'check the host and port in the account, and that this machine can reach it',
          cause: e,
        }),
      );
    });
  });
}

// ---- trust store and contexts ----

/** Where Debian, Fedora/RHEL, Alpine, SUSE and macOS-Homebrew keep the system bundle (what `update-ca-*` writes). */
const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/ssl/cert.pem',
];

let roots: string[] | null = null;

/** Node's bundled Mozilla roots plus the system bundle, so locally installed CAs (update-ca-certificates) count. */
function systemRoots(): string[] {
  if (roots) return roots;
  const set = new Set(tls.rootCertificates);
  const bundle = SYSTEM_BUNDLES.find((p) => existsSync(p));
  if (bundle) {
    try {
      const text = readFileSync(bundle, 'utf8');
      for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)) set.add(m[0]);
    } catch {
      /* unreadable bundle: Node's roots still apply */
    }
  }
  roots = [...set];
  return roots;
}

/** A context holds ~150 roots and takes milliseconds to build, so one per (offer, extra CA set) is kept. */
const contexts = new Map<string, tls.SecureContext>();
const MAX_CONTEXTS = 64;

export interface HandshakeTweaks {
  /** Override the offered versions, e.g. for probe's per-version trials. */
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** Override the offered signature algorithms (OpenSSL list syntax), e.g. probe's "without SHA-1" trial. */
  sigalgs?: string;
}

function contextFor(t: UpstreamTarget, tw: HandshakeTweaks): tls.SecureContext {
  const nonFs = UPSTREAM_PROFILES[t.policy].allowNonForwardSecret;
  const ciphers = [...OFFERED_CIPHERS, ...(nonFs ? OFFERED_NON_FS_CIPHERS : [])].join(':') + ':@SECLEVEL=0';
  const sigalgs = tw.sigalgs ?? OFFERED_SIGALGS.join(':');
  const minVersion = tw.minVersion ?? 'TLSv1';
  const maxVersion = tw.maxVersion ?? 'TLSv1.3';
  const key = JSON.stringify([ciphers, sigalgs, minVersion, maxVersion, t.extraCa]);
  let ctx = contexts.get(key);
  if (!ctx) {
    ctx = tls.createSecureContext({ ca: [...systemRoots(), ...t.extraCa], ciphers, sigalgs, minVersion, maxVersion });
    if (contexts.size >= MAX_CONTEXTS) contexts.delete(contexts.keys().next().value as string);
    contexts.set(key, ctx);
  }
  return ctx;
}

// ---- the handshake ----

/** The chain as DER, leaf first, following Node's issuerCertificate links until the self-issued end. */
function peerChain(s: tls.TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let c: tls.DetailedPeerCertificate | undefined = s.getPeerCertificate(true);
  const seen = new Set<string>();
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(c.raw);
    c = c.issuerCertificate;
  }
  return out;
}

const ALERTS: Record<number, string> = {
  10: 'unexpected_message',
  20: 'bad_record_mac',
  40: 'handshake_failure',
  42: 'bad_certificate',
  47: 'illegal_parameter',
  50: 'decode_error',
  51: 'decrypt_error',
  70: 'protocol_version',
  71: 'insufficient_security',
  80: 'internal_error',
  86: 'inappropriate_fallback',
  112: 'unrecognized_name',
  120: 'no_application_protocol',
};

/** Names the failure of a handshake that never completed, from Node's error and what the tap saw. */
function handshakeFailure(t: UpstreamTarget, e: NodeJS.ErrnoException, obs: ObservedHandshake): ShieldError {
  const w = where(t);
  const alert = obs.alert ? `alert ${ALERTS[obs.alert.description] ?? obs.alert.description}` : null;
  const offer =
    'mailshield offers TLS 1.0-1.3, ECDHE/DHE suites with AES-GCM, ChaCha20 or AES-CBC, and RSA, RSA-PSS, ECDSA or EdDSA signatures down to SHA-1';
  const probe = `run \`mailshield probe ${w}\` to see what the server supports`;
  const code = e.code ?? '';
  let c: ErrorCode = 'MS_ERR_UPSTREAM_TLS_HANDSHAKE';
  let what: string;
  if (code.includes('PROTOCOL_VERSION') || code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' || obs.alert?.description === 70) {
    c = 'MS_ERR_UPSTREAM_TLS_VERSION';
    what = `upstream ${w} accepted none of the TLS versions mailshield offers (TLS 1.0 to 1.3)${alert ? ` (${alert})` : ''}`;
  } else if (
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    code === 'ERR_SSL_RECORD_LAYER_FAILURE'
  ) {
    what = `upstream ${w} did not answer with TLS (${code}); if the server expects STARTTLS on this port, set upstreamTls: starttls for account ${t.account}`;
  } else if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_UPSTREAM_CLOSED') {
    what = `upstream ${w} closed the connection during the TLS handshake${obs.version ? ` after choosing ${obs.version}` : ''}`;
  } else if (alert) {
    what = `upstream ${w} refused the TLS handshake with ${alert}: it shares no cipher suite, group or signature algorithm with mailshield (${offer})`;
  } else {
    what = `TLS handshake with upstream ${w} failed: ${e.message}`;
  }
  return new ShieldError(c, what, { fix: probe, cause: e });
}

export interface RawHandshake {
  socket: tls.TLSSocket | null;
  /** Everything but the verdict; null only if nothing was learnt. */
  facts: UpstreamFactsInput;
  error: ShieldError | null;
}

/**
 * One permissive handshake, no judgement: the facts as observed, plus the socket. Probe uses this directly for its
 * trial handshakes; upgradeUpstreamTls() judges the result.
 */
export async function handshakeUpstream(
  sock: net.Socket,
  t: UpstreamTarget,
  tw: HandshakeTweaks = {},
): Promise<RawHandshake> {
  // Whoever read the plaintext phase (STARTTLS) must stop reading now: from here on the bytes are TLS, and the tap
  // re-emits them on the raw socket where a leftover reader would take them for protocol lines.
  sock.removeAllListeners('data');
  const tap = createTap(sock);
  const base: UpstreamFactsInput = {
    host: t.host,
    port: t.port,
    servername: t.servername,
    protocol: null,
    cipher: null,
    peerSigningDigest: null,
    peerSignatureType: null,
    serverTempKey: null,
    chain: [],
  };
  let secret: Buffer | null = null;
  const isIp = net.isIP(t.servername) !== 0;
  const s = tls.connect({
    socket: tap.duplex,
    secureContext: contextFor(t, tw),
    // RFC 6066 forbids an IP address as SNI; the name is still checked against the certificate below.
    servername: isIp ? undefined : t.servername,
    rejectUnauthorized: false,
    // Identity is checked by hostnameMismatch() for every handshake; Node's hook is skipped on resumption.
    checkServerIdentity: () => undefined,
  });
  s.on('keylog', (line: Buffer) => {
    secret = serverHandshakeSecretFrom(line) ?? secret;
  });
  const unlisten: Array<() => void> = [];
  const outcome = await new Promise<{ error: ShieldError | null }>((resolve) => {
    const timer = setTimeout(() => {
      resolve({
        error: new ShieldError(
          'MS_ERR_UPSTREAM_TIMEOUT',
          `upstream ${where(t)} did not finish the TLS handshake within ${t.timeoutMs} ms`,
        ),
      });
    }, t.timeoutMs);
    const done = (error: ShieldError | null) => {
      clearTimeout(timer);
      resolve({ error });
    };
    const onSecure = () => done(null);
    const onError = (e: NodeJS.ErrnoException) =>
      done(handshakeFailure(t, e, tap.observed(secret ? { serverHandshakeSecret: secret } : {})));
    const onClose = () => {
      const e: NodeJS.ErrnoException = new Error('connection closed');
      e.code = 'ERR_UPSTREAM_CLOSED';
      done(handshakeFailure(t, e, tap.observed()));
    };
    s.once('secureConnect', onSecure);
    s.once('error', onError);
    s.once('close', onClose);
    unlisten.push(
      () => s.removeListener('secureConnect', onSecure),
      () => s.removeListener('error', onError),
      () => s.removeListener('close', onClose),
    );
  });
  for (const off of unlisten) off();
  const obs = tap.observed(secret ? { serverHandshakeSecret: secret } : {});
  tap.stop();
  s.removeAllListeners('keylog');
  if (outcome.error) {
    // A late error from the dying socket must not become an unhandled 'error' event.
    s.on('error', () => undefined);
    s.destroy();
    return { socket: null, facts: { ...base, protocol: obs.version }, error: outcome.error };
  }
  const ders = peerChain(s);
  const leaf = ders[0];
  const authErr = s.authorizationError as unknown;
  const facts: UpstreamFactsInput = {
    ...base,
    protocol: s.getProtocol(),
    cipher: s.getCipher()?.name ?? null,
    peerSigningDigest: obs.peerSigningDigest,
    peerSignatureType: obs.peerSignatureType,
    serverTempKey: formatTempKey(s.getEphemeralKeyInfo() as { type?: string; name?: string; size?: number } | null),
    chain: summarizeChain(ders),
    verification: {
      opensslError: authErr ? String(authErr) : null,
      hostnameError: leaf ? hostnameMismatch(leaf, t.servername) : 'no certificate',
      leafPin: leaf ? spkiPin(leaf) : null,
      expectedPin: t.pin ?? null,
    },
  };
  return { socket: s, facts, error: null };
}

/**
 * TLS to the upstream over an already connected socket (implicit TLS, or after a STARTTLS go-ahead). Never throws.
 * On refusal the TLS socket is destroyed before any application byte is written, and the facts still say what the
 * server did, for the log, the store and the dashboard.
 */
export async function upgradeUpstreamTls(sock: net.Socket, t: UpstreamTarget): Promise<UpstreamTlsResult> {
  let raw: RawHandshake;
  try {
    raw = await handshakeUpstream(sock, t);
  } catch (e) {
    sock.destroy();
    const err = new ShieldError('MS_ERR_UPSTREAM_TLS_HANDSHAKE', `TLS with upstream ${where(t)} failed: ${String(e)}`, {
      cause: e,
    });
    return { ok: false, error: err, facts: null };
  }
  if (raw.error || !raw.socket) {
    const error = raw.error ?? new ShieldError('MS_ERR_UPSTREAM_TLS_HANDSHAKE', `TLS with upstream ${where(t)} failed`);
    const finding = { level: 'refusal' as const, rule: 'handshake', code: error.code, message: error.message };
    const facts: UpstreamHandshakeFacts = {
      ...raw.facts,
      policy: t.policy,
      verdict: 'refused',
      findings: [finding],
      exceptionsApplied: [],
      exceptionsExpired: [],
    };
    return { ok: false, error, facts };
  }
  const ev = evaluateUpstream(raw.facts, t.policy, t.exceptions, t.now);
  const wouldRefuse = shadowUpstream(raw.facts, ev, t.candidate, t.exceptions, t.now) ?? undefined;
  const facts: UpstreamHandshakeFacts = { ...raw.facts, ...ev, ...(wouldRefuse && { wouldRefuse }) };
  const error = refusalError(ev);
  if (error) {
    raw.socket.on('error', () => undefined);
    raw.socket.destroy();
    return { ok: false, error, facts };
  }
  return { ok: true, socket: raw.socket, facts };
}

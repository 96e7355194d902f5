// The client leg's TLS accept. It reads the ClientHello before OpenSSL sees it, so it can (1) record what the client
// offered, (2) refuse with an explanation naming that offer, which OpenSSL's own errors never do, and (3) pick a
// SecureContext per client: only clients that need TLS 1.0 or SHA-1 handshake signatures get the context with
// OpenSSL's security level lowered to 0 (DESIGN.md §3). Then the bytes go back onto the socket and Node's TLS takes
// over. This path has no built-in handshake timeout, so one deadline covers reading the hello and the handshake.
import { constants } from 'node:crypto';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { ClientPolicyName } from '../core/config.js';
import { ShieldError, asShieldError, type ErrorCode } from '../core/errors.js';
import { ClientHelloReader, type PeekResult } from '../tls/client-hello.js';
import {
  LEGACY_EXTRA_SUITES,
  STRICT_SUITES,
  describeHello,
  evaluateClientHello,
  type ClientPolicyDecision,
  type ContextKind,
} from '../tls/client-policy.js';
import type { ClientHelloInfo, LeafPair, LeafSource } from '../core/tls-facts.js';
import type { TlsVersionName } from '../tls/names.js';

export interface ClientTlsOptions {
  leafs: LeafSource;
  policy: ClientPolicyName;
  /** The listener as configured, host:port; it names the leaf and decides what `auto` means. */
  listen: string;
  handshakeTimeoutMs: number;
}

export type ClientTlsResult =
  | { ok: true; socket: tls.TLSSocket; hello: ClientHelloInfo; decision: ClientPolicyDecision }
  | { ok: false; error: ShieldError; hello: ClientHelloInfo | null };

/** TLS alert descriptions (RFC 8446 §6). */
const ALERT_HANDSHAKE_FAILURE = 40;
const ALERT_DECODE_ERROR = 50;
const ALERT_PROTOCOL_VERSION = 70;

/** How long a refusal waits for its alert to leave before the socket is destroyed anyway. */
const ALERT_FLUSH_MS = 250;

/**
 * The SecureContext for a client. 'strict' serves only forward-secret AEAD suites. 'modern' is Node's default at
 * security level 1 with TLS 1.2 as the floor. 'legacy' lowers the level to 0, which is the only way OpenSSL 3 will do
 * TLS 1.0/1.1 or SHA-1 handshake signatures (the `sigalgs` option alone never helps), and names Windows 7's CBC-SHA
 * suites explicitly.
 */
export function secureContextOptions(
  pair: LeafPair,
  kind: ContextKind,
  minVersion: TlsVersionName,
): tls.SecureContextOptions {
  // No renegotiation, whoever asks: a client-initiated TLS 1.2 renegotiation gets OpenSSL's no_renegotiation alert
  // (as Dovecot answers it). It buys a mail client nothing and has a history of attacks (CVE-2009-3555, CPU DoS).
  const base = {
    key: pair.keys,
    cert: pair.certs,
    minVersion,
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
  if (kind === 'modern') return base;
  if (kind === 'strict') return { ...base, ciphers: STRICT_SUITES.join(':') };
  return { ...base, ciphers: `${tls.DEFAULT_CIPHERS}:${LEGACY_EXTRA_SUITES.join(':')}:@SECLEVEL=0` };
}

/**
 * Contexts are cached per leaf pair (which the LeafSource caches per set of names) and per kind. Keying on the pair
 * object means a re-minted leaf (expiry, CA rotation) gets a fresh context and a stale one is never served, and the
 * WeakMap lets both go when the LeafSource evicts the pair.
 */
const contexts = new WeakMap<LeafPair, Map<string, tls.SecureContext>>();

function contextFor(pair: LeafPair, kind: ContextKind, minVersion: TlsVersionName): tls.SecureContext {
  let byKind = contexts.get(pair);
  if (!byKind) {
    byKind = new Map();
    contexts.set(pair, byKind);
  }
  const key = `${kind}/${minVersion}`;
  let ctx = byKind.get(key);
  if (!ctx) {
    ctx = tls.createSecureContext(secureContextOptions(pair, kind, minVersion));
    byKind.set(key, ctx);
  }
  return ctx;
}

/** Names the leaf must carry: the listener address (unless it is a wildcard), localhost and the client's SNI. */
export function leafNames(listen: string, sni: string | null): string[] {
  const m = /^\[([^\]]+)\]:\d+$/.exec(listen) ?? /^([^:]+):\d+$/.exec(listen);
  const host = (m ? m[1]! : listen).toLowerCase();
  const names = [];
  if (host !== '0.0.0.0' && host !== '::' && host !== '') names.push(host);
  names.push('localhost');
  if (sni) names.push(sni.toLowerCase());
  return [...new Set(names)];
}

/** A fatal alert record, readable by a client of any TLS version. */
function alertRecord(description: number, hello: ClientHelloInfo | null): Buffer {
  // The record version must be one the client parses: TLS 1.0 for a TLS 1.0 client, else TLS 1.2 (TLS 1.3 records
  // also say 1.2).
  const minor = hello?.legacyVersion === 'TLSv1' ? 1 : hello?.legacyVersion === 'TLSv1.1' ? 2 : 3;
  return Buffer.from([0x15, 0x03, minor, 0x00, 0x02, 0x02, description]);
}

function alertFor(code: ErrorCode): number {
  return code === 'MS_ERR_CLIENT_TLS_VERSION' ? ALERT_PROTOCOL_VERSION : ALERT_HANDSHAKE_FAILURE;
}

/** Printable start of what a non-TLS client sent, for the error text (never more than a short command). */
function plaintextPreview(buf: Buffer): string {
  const s = buf.subarray(0, 24).toString('latin1').split(/\r?\n/)[0]!;
  return s.replace(/[^\x20-\x7e]/g, '.');
}

interface TlsLikeError extends Error {
  code?: string;
  reason?: string;
}

/** OpenSSL's failure, in the code and words of our registry. The policy check ran first, so these are rare. */
function handshakeError(e: TlsLikeError, hello: ClientHelloInfo, listen: string): ShieldError {
  const reason = e.reason ?? e.message;
  const offered = describeHello(hello);
  const code = e.code ?? '';
  if (/ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE)/.test(code)) {
    return new ShieldError(
      'MS_ERR_CLIENT_TLS_HANDSHAKE',
      `the mail client rejected mailshield's certificate on ${listen} (OpenSSL: ${reason})`,
      {
        offered,
        fix: 'trust the mailshield CA in the mail client or system (mailshield ca path; see README)',
        cause: e,
      },
    );
  }
  const mapped: ErrorCode = /NO_SHARED_CIPHER/.test(code)
    ? 'MS_ERR_CLIENT_TLS_CIPHERS'
    : /UNSUPPORTED_PROTOCOL|WRONG_VERSION|VERSION_TOO_LOW/.test(code)
      ? 'MS_ERR_CLIENT_TLS_VERSION'
      : /SIGNATURE_ALGORITHM/.test(code)
        ? 'MS_ERR_CLIENT_TLS_SIGALGS'
        : 'MS_ERR_CLIENT_TLS_HANDSHAKE';
  return new ShieldError(mapped, `TLS handshake with the client on ${listen} failed (OpenSSL: ${reason})`, {
    offered,
    cause: e,
  });
}

/**
 * Reads the ClientHello (`pending` holds bytes already read, e.g. pipelined after STARTTLS), applies the client
 * policy and completes the handshake. Never throws. On failure the socket is closed: a policy refusal first sends a
 * TLS alert, so the mail client reports "protocol version" or "handshake failure" instead of a generic "connection
 * closed" (Outlook's 0x800CCC1A tells the user nothing; SChannel logs the alert number). On success the caller owns
 * the TLSSocket and must attach its own listeners.
 */
export function acceptClientTls(raw: Socket, opts: ClientTlsOptions, pending?: Buffer): Promise<ClientTlsResult> {
  return new Promise<ClientTlsResult>((resolve) => {
    const reader = new ClientHelloReader();
    const chunks: Buffer[] = [];
    let received = 0;
    let hello: ClientHelloInfo | null = null;
    let tlsSock: tls.TLSSocket | null = null;
    let settled = false;
    const listen = opts.listen;

    const timer = setTimeout(() => fail(timeoutError()), opts.handshakeTimeoutMs);

    function timeoutError(): ShieldError {
      const ms = opts.handshakeTimeoutMs;
      if (received === 0) {
        return new ShieldError(
          'MS_ERR_CLIENT_TLS_TIMEOUT',
          `client sent nothing within ${ms} ms on TLS listener ${listen}`,
          {
            fix:
              'a mail client set to no encryption or STARTTLS waits for a greeting here: set it to SSL/TLS, ' +
              "or set the account's clientTls to match the client",
          },
        );
      }
      if (!hello) {
        return new ShieldError(
          'MS_ERR_CLIENT_TLS_TIMEOUT',
          `client sent ${received} bytes of a ClientHello and then stalled for ${ms} ms on ${listen}`,
        );
      }
      return new ShieldError(
        'MS_ERR_CLIENT_TLS_TIMEOUT',
        `client did not finish the TLS handshake within ${ms} ms on ${listen}`,
        {
          offered: describeHello(hello),
        },
      );
    }

    function detachRaw(): void {
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('close', onEnd);
      raw.off('error', onRawError);
    }

    function fail(error: ShieldError, alert?: number): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      detachRaw();
      const finish = () => {
        tlsSock?.destroy();
        raw.destroy();
        resolve({ ok: false, error, hello });
      };
      if (alert === undefined || !raw.writable) return finish();
      const t = setTimeout(finish, ALERT_FLUSH_MS);
      raw.end(alertRecord(alert, hello), () => {
        clearTimeout(t);
        finish();
      });
    }

    function onEnd(): void {
      fail(
        new ShieldError(
          'MS_ERR_CLIENT_TLS_HANDSHAKE',
          received === 0
            ? `client closed the connection to ${listen} without sending anything`
            : `client closed the connection to ${listen} after ${received} bytes, before its ClientHello was complete`,
        ),
      );
    }

    function onRawError(e: Error): void {
      fail(
        new ShieldError('MS_ERR_CLIENT_TLS_HANDSHAKE', `client connection to ${listen} failed: ${e.message}`, {
          cause: e,
        }),
      );
    }

    function onData(chunk: Buffer): void {
      chunks.push(chunk);
      received += chunk.length;
      handle(reader.push(chunk));
    }

    function handle(r: PeekResult): void {
      switch (r.status) {
        case 'need-more':
          return;
        case 'not-tls':
          return fail(
            new ShieldError(
              'MS_ERR_CLIENT_NOT_TLS',
              `client sent plaintext ("${plaintextPreview(Buffer.concat(chunks))}") to TLS listener ${listen}`,
              {
                fix: "set the mail client's security to SSL/TLS for this port, or set the account's clientTls to starttls or none",
              },
            ),
          );
        case 'malformed':
          return fail(
            new ShieldError(
              'MS_ERR_CLIENT_TLS_HANDSHAKE',
              `client sent a malformed ClientHello to ${listen}: ${r.reason}`,
            ),
            ALERT_DECODE_ERROR,
          );
        case 'ok':
          return onHello(r.info);
      }
    }

    function onHello(info: ClientHelloInfo): void {
      hello = info;
      detachRaw();
      raw.pause();
      // Back onto the socket in the order received; anything that arrives from now on queues behind them.
      raw.unshift(Buffer.concat(chunks));
      const decision = evaluateClientHello(info, opts.policy, listen);
      if (!decision.ok) {
        const refusal =
          decision.refusal ??
          new ShieldError('MS_ERR_CLIENT_TLS_HANDSHAKE', 'client refused by policy', { offered: describeHello(info) });
        return fail(refusal, alertFor(refusal.code));
      }
      // A client that vanishes while the leaf is minted is noticed by the TLS socket or the deadline.
      raw.on('error', onRawError);
      opts.leafs.get(leafNames(listen, info.sni)).then(
        (pair) => startTls(info, decision, pair),
        (e: unknown) => fail(asShieldError(e, 'MS_ERR_CA')),
      );
    }

    function startTls(info: ClientHelloInfo, decision: ClientPolicyDecision, pair: LeafPair): void {
      if (settled) return;
      raw.off('error', onRawError);
      let ctx: tls.SecureContext;
      try {
        ctx = contextFor(pair, decision.context, decision.minVersion);
      } catch (e) {
        return fail(asShieldError(e, 'MS_ERR_CA'));
      }
      const sock = new tls.TLSSocket(raw, { isServer: true, secureContext: ctx });
      tlsSock = sock;
      const onError = (e: TlsLikeError) => fail(handshakeError(e, info, listen));
      const onClose = () =>
        fail(
          new ShieldError(
            'MS_ERR_CLIENT_TLS_HANDSHAKE',
            `client closed the connection to ${listen} during the TLS handshake (often: it does not trust mailshield's certificate)`,
            {
              offered: describeHello(info),
              fix: 'trust the mailshield CA in the mail client or system (mailshield ca path)',
            },
          ),
        );
      sock.on('error', onError);
      sock.once('close', onClose);
      sock.once('secure', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.off('error', onError);
        sock.off('close', onClose);
        // Until the caller attaches its own listeners (it may first wait for the upstream), an error must not crash
        // the process; the socket is destroyed by then and the caller sees `destroyed`.
        sock.on('error', () => {});
        resolve({ ok: true, socket: sock, hello: info, decision });
      });
    }

    if (pending && pending.length > 0) {
      chunks.push(pending);
      received += pending.length;
      handle(reader.push(pending));
      if (settled || hello) return;
    }
    raw.on('data', onData);
    raw.on('end', onEnd);
    raw.on('close', onEnd);
    raw.on('error', onRawError);
    raw.resume();
  });
}

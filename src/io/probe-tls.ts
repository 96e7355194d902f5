// The connections `mailshield probe` makes: the main one (greeting, capabilities, STARTTLS, the handshake exactly as
// the proxy would do it, capabilities again over TLS) and short trial handshakes, one per question ("does the server
// speak TLS 1.0?", "what does it sign with when SHA-1 is not offered?"). The handshake itself is the upstream
// connector's (src/io/upstream.ts), so the probe sees what the proxy sees; no judgement happens here.
import type { TLSSocket } from 'node:tls';
import { asShieldError, type ShieldError } from '../core/errors.js';
import type { MailProtocol, StarttlsTranscript } from '../protocols/mail-dialog.js';
import { TLS_VERSIONS, type TlsVersionName } from '../tls/names.js';
import type { UpstreamFactsInput } from '../tls/upstream-policy.js';
import { connectUpstreamTcp, handshakeUpstream, type HandshakeTweaks, type UpstreamTarget } from './upstream.js';
import { plainPhase, securePhase, type SecurePhase } from './probe-starttls.js';

/** One trial handshake: a fresh connection asking one question ("does the server speak TLS 1.0?"). */
export interface Trial {
  ok: boolean;
  protocol: string | null;
  cipher: string | null;
  /** The scheme the server signed with, as type+digest ("RSA-PSS+SHA256"); null if unseen. */
  signatureScheme: string | null;
  peerSigningDigest: string | null;
  peerSignatureType: string | null;
  serverTempKey: string | null;
  /** Why the trial failed, in one line. */
  error: string | null;
}

export interface MainConnection {
  /** Null for implicit TLS. */
  plain: StarttlsTranscript | null;
  /** Whether TLS was attempted (implicit, or STARTTLS go-ahead received). */
  tlsAttempted: boolean;
  facts: UpstreamFactsInput | null;
  /** The conversation before TLS failed (no greeting, timeout): the server is not usable as this protocol. */
  dialogError: ShieldError | null;
  handshakeError: ShieldError | null;
  secure: SecurePhase | null;
}

export interface MainOptions {
  mode: 'implicit' | 'starttls';
  /** Known protocol; for implicit TLS on an unknown port the greeting decides. */
  protocol: MailProtocol | null;
  /** How long to wait for a greeting from a server of unknown protocol (it may never speak first). */
  greetingTimeoutMs: number;
  /** Whether to talk the mail protocol over TLS (greeting, capabilities); doctor skips it. */
  talkAfterTls: boolean;
}

/**
 * The main connection. Throws a ShieldError only when the server cannot be reached at all (TCP); everything after
 * that is reported in the result.
 */
export async function mainConnection(t: UpstreamTarget, o: MainOptions): Promise<MainConnection> {
  const sock = await connectUpstreamTcp(t);
  const out: MainConnection = {
    plain: null,
    tlsAttempted: false,
    facts: null,
    dialogError: null,
    handshakeError: null,
    secure: null,
  };
  let tlsSock: TLSSocket | null = null;
  try {
    if (o.mode === 'starttls') {
      const p = o.protocol ?? 'smtp';
      const plain = await plainPhase(sock, p, t.timeoutMs);
      out.plain = plain.transcript;
      if (!plain.readyForTls) return out;
    }
    out.tlsAttempted = true;
    const raw = await handshakeUpstream(sock, t);
    out.facts = raw.facts;
    out.handshakeError = raw.error;
    tlsSock = raw.socket;
    if (tlsSock && o.talkAfterTls) {
      tlsSock.on('error', () => undefined);
      out.secure = await securePhase(tlsSock, o.mode === 'starttls' ? (o.protocol ?? 'smtp') : o.protocol, {
        expectGreeting: o.mode === 'implicit',
        timeoutMs: t.timeoutMs,
        greetingTimeoutMs: o.greetingTimeoutMs,
      }).catch(() => null);
    }
    return out;
  } catch (e) {
    const err = asShieldError(e);
    if (!out.tlsAttempted) out.dialogError = err;
    else out.handshakeError ??= err;
    return out;
  } finally {
    tlsSock?.destroy();
    sock.destroy();
  }
}

const failed = (error: string): Trial => ({
  ok: false,
  protocol: null,
  cipher: null,
  signatureScheme: null,
  peerSigningDigest: null,
  peerSignatureType: null,
  serverTempKey: null,
  error,
});

/** One trial: a fresh connection, the STARTTLS dance if needed, one handshake with the tweaks, then close. */
export async function trialHandshake(
  t: UpstreamTarget,
  starttls: MailProtocol | null,
  tw: HandshakeTweaks,
): Promise<Trial> {
  let sock;
  try {
    sock = await connectUpstreamTcp(t);
  } catch (e) {
    return failed((e as Error).message);
  }
  try {
    if (starttls) {
      const plain = await plainPhase(sock, starttls, t.timeoutMs);
      if (!plain.readyForTls) return failed('the server did not accept STARTTLS');
    }
    const raw = await handshakeUpstream(sock, t, tw);
    raw.socket?.destroy();
    if (raw.error || !raw.socket) return failed(raw.error?.message ?? 'handshake failed');
    const f = raw.facts;
    return {
      ok: true,
      protocol: f.protocol,
      cipher: f.cipher,
      signatureScheme: f.peerSignatureType
        ? `${f.peerSignatureType}${f.peerSigningDigest ? `+${f.peerSigningDigest}` : ''}`
        : null,
      peerSigningDigest: f.peerSigningDigest,
      peerSignatureType: f.peerSignatureType,
      serverTempKey: f.serverTempKey,
      error: null,
    };
  } catch (e) {
    return failed((e as Error).message);
  } finally {
    sock.destroy();
  }
}

/** Accepted versions, one trial each, one after another: openssl s_server and small servers serve serially. */
export async function versionTrials(
  t: UpstreamTarget,
  starttls: MailProtocol | null,
): Promise<Record<TlsVersionName, Trial>> {
  const out = {} as Record<TlsVersionName, Trial>;
  for (const v of TLS_VERSIONS) out[v] = await trialHandshake(t, starttls, { minVersion: v, maxVersion: v });
  return out;
}

// actions.addTlsTraceHeader: one header on incoming mail that records what protected the internet hop. The mail
// client only sees its own TLS to the shield, which may be stronger than the server's, so this is the only place a
// reader can see that the ISP signed its key exchange with SHA-1. For example:
//   X-MailShield-Upstream-TLS: TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384; sig=RSA+SHA1 (warning: SHA-1 handshake
//    signature, accepted by balanced); tempkey=ECDH P-256; cert=verified CN=pop.isp.example sha256WithRSAEncryption
// Off by default, because clean mail is byte-identical by default. A sender's own copy is removed first, so the
// header a reader sees is always ours; everything else in the message stays byte for byte.
import type { PolicyFinding, UpstreamHandshakeFacts } from '../core/tls-facts.js';
import { headerBlock } from './headers.js';
import { readAll, sourceOf, type SpoolReader } from './source.js';
import type { CapturedMessage, ScanAction } from './types.js';

export const TLS_TRACE_HEADER = 'X-MailShield-Upstream-TLS';

/** Lines are folded at "; " to stay under this (RFC 5322 §2.1.1 recommends 78). */
const FOLD_AT = 78;

type Slot = 'suite' | 'sig';

/** Short names for the warnings a handshake can be accepted with, and which part of the header each belongs to. */
const WARNINGS: Record<string, { slot: Slot; what: string; relaxation?: string }> = {
  'handshake-signature-sha1': {
    slot: 'sig',
    what: 'SHA-1 handshake signature',
    relaxation: 'sha1-handshake-signature',
  },
  'handshake-signature-legacy': { slot: 'sig', what: 'MD5/SHA-1 handshake signature of TLS 1.0/1.1' },
  'handshake-signature-unknown': { slot: 'sig', what: 'handshake signature not observed' },
  'tls-version': { slot: 'suite', what: 'old TLS version' },
  'cipher-no-forward-secrecy': { slot: 'suite', what: 'no forward secrecy' },
};

/** Server-chosen text (a certificate subject) goes into a header: printable ASCII only. */
const safe = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?');

/** "ECDH, prime256v1, 256 bits" -> "ECDH P-256"; "X25519, 253 bits" -> "X25519"; "DH, 2048 bits" -> "DH 2048". */
export function shortTempKey(k: string): string {
  const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
  let m = /^ECDH, ([^,]+), \d+ bits$/.exec(k);
  if (m) return `ECDH ${curves[m[1]!] ?? m[1]!}`;
  m = /^(X25519|X448), \d+ bits$/.exec(k);
  if (m) return m[1]!;
  m = /^DH, (\d+) bits$/.exec(k);
  if (m) return `DH ${m[1]}`;
  return k;
}

function note(f: PolicyFinding, facts: UpstreamHandshakeFacts): { slot: Slot; text: string } {
  const w = WARNINGS[f.rule] ?? { slot: 'suite' as const, what: f.rule };
  let relaxation = w.relaxation;
  if (f.rule === 'tls-version') relaxation = facts.protocol === 'TLSv1' ? 'tls1.0' : 'tls1.1';
  const ex = relaxation ? facts.exceptionsApplied.find((e) => e.includes(`: ${relaxation} until `)) : undefined;
  return { slot: w.slot, text: `warning: ${w.what}, accepted by ${ex ? `exception ${ex}` : facts.policy}` };
}

/** The header's value (unfolded) for a handshake the policy accepted. */
export function traceHeaderValue(f: UpstreamHandshakeFacts): string {
  const notes: Record<Slot, string[]> = { suite: [], sig: [] };
  for (const x of f.findings.filter((y) => y.level === 'warning')) {
    const n = note(x, f);
    notes[n.slot].push(n.text);
  }
  const withNotes = (s: string, slot: Slot) => (notes[slot].length ? `${s} (${notes[slot].join('; ')})` : s);
  const sig = f.peerSignatureType
    ? `${f.peerSignatureType}${f.peerSigningDigest ? `+${f.peerSigningDigest}` : ''}`
    : 'unobserved';
  const leaf = f.chain[0];
  const v = f.verification;
  const pinned = v?.expectedPin != null && v.leafPin === v.expectedPin;
  const cert = leaf
    ? `${pinned ? `pinned ${v.expectedPin}` : 'verified'} ${leaf.subject} ${leaf.signatureAlgorithm}`
    : 'none';
  const parts = [
    withNotes(`${f.protocol ?? '?'} ${f.cipher ?? '?'}`, 'suite'),
    withNotes(`sig=${sig}`, 'sig'),
    `tempkey=${f.serverTempKey ? shortTempKey(f.serverTempKey) : 'none'}`,
    `cert=${cert}`,
  ];
  // Without a warning nothing above names the policy; a reader must still see which one accepted the hop.
  if (notes.suite.length + notes.sig.length === 0) parts.push(`policy=${f.policy}`);
  return safe(parts.join('; '));
}

/** The header line, folded at "; " boundaries, with `eol` between folded lines (no final line break). */
export function foldHeader(name: string, value: string, eol: string): string {
  const parts = value.split('; ');
  let line = `${name}: ${parts[0]}`;
  const lines: string[] = [];
  for (const p of parts.slice(1)) {
    if (line.length + 2 + p.length > FOLD_AT) {
      lines.push(line + ';');
      line = ` ${p}`;
    } else line += `; ${p}`;
  }
  lines.push(line);
  return lines.join(eol);
}

/** Removes every copy of the header (with its folded lines) from the header block; the rest stays byte-exact. */
export function stripTraceHeader(message: Buffer): Buffer {
  const block = headerBlock(message.subarray(0, Math.min(message.length, 256 * 1024)));
  const lines = block.toString('latin1').split(/(?<=\n)/);
  const start = new RegExp(`^${TLS_TRACE_HEADER}[ \\t]*:`, 'i');
  let dropping = false;
  let dropped = false;
  const kept: string[] = [];
  for (const l of lines) {
    if (!/^[ \t]/.test(l)) dropping = start.test(l);
    if (dropping) dropped = true;
    else kept.push(l);
  }
  if (!dropped) return message;
  return Buffer.concat([Buffer.from(kept.join(''), 'latin1'), message.subarray(block.length)]);
}

/** The message with the sender's copies removed and ours on top, in the message's own line-ending style. */
export function withTlsTraceHeader(message: Buffer, facts: UpstreamHandshakeFacts): Buffer {
  const stripped = stripTraceHeader(message);
  const firstNl = stripped.indexOf('\n');
  const eol = firstNl > 0 && stripped[firstNl - 1] === 0x0d ? '\r\n' : firstNl >= 0 ? '\n' : '\r\n';
  const line = foldHeader(TLS_TRACE_HEADER, traceHeaderValue(facts), eol) + eol;
  return Buffer.concat([Buffer.from(line, 'latin1'), stripped]);
}

/**
 * The pipeline's hook: a released incoming message gets the header. Everything else (notices, refusals, outgoing
 * mail, a connection without upstream TLS facts) passes unchanged.
 */
export async function addTlsTrace(a: ScanAction, msg: CapturedMessage, spool: SpoolReader): Promise<ScanAction> {
  if (a.action !== 'release' || msg.direction !== 'incoming') return a;
  const original = a.bytes ?? (await readAll(sourceOf(msg, spool)));
  const bytes = msg.upstreamTls ? withTlsTraceHeader(original, msg.upstreamTls) : stripTraceHeader(original);
  return bytes === original && !a.bytes ? a : { ...a, bytes };
}

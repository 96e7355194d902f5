// The optional "scanned" line on clean outgoing mail (actions.outgoingSignature). It must never break a DKIM
// signature the client added: a new header at the top is outside every DKIM-signed field (h= names existing ones and
// the body hash is untouched), so header mode is always safe; footer mode changes the body, so it is skipped when a
// DKIM-Signature is present, and also for anything but a plain single-part text body, where appending lines would
// corrupt MIME structure or an encoding.

/** Keeps the header section of a message as it streams by, bounded, scanning each byte once. */
export class HeaderSniffer {
  private parts: Buffer[] = [];
  private len = 0;
  private tail = Buffer.alloc(0);
  private done = false;
  private overflow = false;

  constructor(private readonly cap = 64 * 1024) {}

  push(b: Buffer): void {
    if (this.done || this.overflow) return;
    // The blank line may straddle chunks: look in the last 3 bytes seen plus the new chunk.
    const look = Buffer.concat([this.tail, b]);
    const k = look.indexOf('\r\n\r\n');
    const atStart = this.len === 0 && b.subarray(0, 2).equals(Buffer.from('\r\n'));
    if (k >= 0 || atStart) {
      const keep = atStart ? 0 : k + 4 - this.tail.length;
      this.parts.push(b.subarray(0, keep));
      this.len += keep;
      this.done = true;
      return;
    }
    this.parts.push(b);
    this.len += b.length;
    if (this.len > this.cap) this.overflow = true;
    this.tail = look.subarray(Math.max(0, look.length - 3));
  }

  /** The header section (unfolded lines), or null when it was too big to keep. */
  headers(): string[] | null {
    if (this.overflow) return null;
    const text = Buffer.concat(this.parts, this.len).toString('latin1');
    return text
      .replace(/\r\n[ \t]+/g, ' ')
      .split('\r\n')
      .filter((l) => l.length > 0);
  }
}

export interface SignatureConfig {
  mode: 'off' | 'header' | 'footer';
  text: string;
}

export interface SignatureParts {
  /** Header bytes to put before the message. */
  prefix?: Buffer;
  /** Footer lines to append to the body (CRLF-terminated, not yet dot-stuffed). */
  footer?: Buffer;
  /** Why a configured signature was not added, for the log. */
  skipped?: string;
}

export const SIGNATURE_HEADER = 'X-Mailshield-Scanned';

function clean(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
}

function header(headers: string[], name: string): string | undefined {
  const p = name.toLowerCase() + ':';
  return headers
    .find((h) => h.toLowerCase().startsWith(p))
    ?.slice(p.length)
    .trim();
}

/** Decides the prefix/suffix bytes for a clean message whose header section is `headers` (null: unknown). */
export function signatureFor(cfg: SignatureConfig, headers: string[] | null): SignatureParts {
  if (cfg.mode === 'off') return {};
  if (cfg.mode === 'header') return { prefix: Buffer.from(`${SIGNATURE_HEADER}: ${clean(cfg.text)}\r\n`, 'latin1') };
  if (!headers) return { skipped: 'header section too large to inspect' };
  if (header(headers, 'DKIM-Signature') !== undefined) return { skipped: 'message has a DKIM-Signature' };
  const ct = (header(headers, 'Content-Type') ?? 'text/plain').toLowerCase();
  if (!ct.startsWith('text/plain')) return { skipped: `body is ${ct.split(';')[0]}, not text/plain` };
  const cte = (header(headers, 'Content-Transfer-Encoding') ?? '7bit').toLowerCase();
  if (cte !== '7bit' && cte !== '8bit') return { skipped: `body is ${cte}-encoded` };
  return { footer: Buffer.from(`-- \r\n${clean(cfg.text)}\r\n`, 'latin1') };
}

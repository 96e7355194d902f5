// Capability rewriting. The client must see what the shield can actually deliver on *its* leg, wherever the server
// lists capabilities: the greeting's code, the CAPABILITY response, and the [CAPABILITY ...] code of a tagged OK after
// LOGIN/AUTHENTICATE.

/**
 * Capabilities the shield never passes on:
 * - STARTTLS and LOGINDISABLED describe the upstream leg, which the shield already secured; they are re-added for
 *   the client leg as it requires.
 * - COMPRESS=*: a compressed stream could not be framed or scanned; the shield does not implement it.
 * - CATENATE: an APPEND built from URL references would store content the shield never sees whole.
 */
const DROPPED = /^(STARTTLS|LOGINDISABLED|COMPRESS=.*|CATENATE)$/i;

export interface ClientLegState {
  /** The client leg is a STARTTLS leg still in plaintext: offer STARTTLS and forbid login until it is used. */
  offerStartTls: boolean;
}

export function rewriteCapabilities(caps: readonly string[], leg: ClientLegState): string[] {
  const out = caps.filter((c) => !DROPPED.test(c));
  if (leg.offerStartTls) out.push('STARTTLS', 'LOGINDISABLED');
  return out;
}

// `* CAPABILITY a b c` (a whole line) or `[CAPABILITY a b c]` (a response code). Capability atoms never contain `]`.
const UNTAGGED = /^(\* CAPABILITY)((?: [^\r\n]*?)?)(\r?\n)$/i;
const CODE = /\[CAPABILITY((?: [^\]\r\n]*)?)\]/i;

/** The capability list a line carries, or null if it carries none. */
export function capabilitiesIn(line: string): string[] | null {
  const m = UNTAGGED.exec(line);
  const list = m ? m[2]! : CODE.exec(line)?.[1];
  if (list === undefined) return null;
  return list.split(' ').filter((c) => c.length > 0);
}

/** The line with its capability list rewritten, or the line unchanged when it carries none. */
export function rewriteCapabilityLine(line: string, leg: ClientLegState): string {
  const m = UNTAGGED.exec(line);
  if (m) {
    const caps = rewriteCapabilities(capabilitiesIn(line) ?? [], leg);
    return `${m[1]}${caps.map((c) => ` ${c}`).join('')}${m[3]}`;
  }
  return line.replace(CODE, (_all, list: string | undefined) => {
    const caps = rewriteCapabilities((list ?? '').split(' ').filter(Boolean), leg);
    return `[CAPABILITY${caps.map((c) => ` ${c}`).join('')}]`;
  });
}

/** The server's capabilities as it spelled them, and upper-cased for lookups. */
export class ServerCapabilities {
  private spelled: string[] = [];
  private upper = new Set<string>();

  set(caps: string[]): void {
    this.spelled = caps;
    this.upper = new Set(caps.map((c) => c.toUpperCase()));
  }

  get list(): readonly string[] {
    return this.spelled;
  }

  get size(): number {
    return this.upper.size;
  }

  has(name: string): boolean {
    return this.upper.has(name.toUpperCase());
  }
}

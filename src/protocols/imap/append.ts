// APPEND, the one IMAP command that carries mail to the server. Its content must be scanned before the server stores
// it, and an infected message must never reach the server at all. So the session answers the client's synchronizing
// literal itself, captures the whole message, and only after a clean verdict sends the command to the server, using
// the server's own continuation (or LITERAL+/-). An infected or unscannable message gets a NO and the server never
// hears of it. The command keeps its place in the upstream order: commands pipelined after it wait behind it.
// This file holds the state of one APPEND and the pure decisions about it; the session moves the bytes.
import type { ShieldError } from '../../core/errors.js';
import type { ScanAction } from '../../core/scan-contract.js';
import type { Group, Slot } from './ordered.js';

/** One message of an APPEND (MULTIAPPEND may carry several), captured for scanning. */
export interface AppendMessage {
  id: number;
  size: number;
  binary: boolean;
  /** Where its literal marker goes in the upstream order, once the size to announce is known. */
  marker: Slot;
  /** Waits for the server's continuation, unless the literal is non-synchronizing. */
  gate: Slot;
  data: Slot;
  result: ScanAction | null;
  failed: ShieldError | null;
}

export interface AppendState {
  tag: string;
  group: Group;
  msgs: AppendMessage[];
  /** The client has sent the whole command. */
  complete: boolean;
  /** Sent on or refused: nothing more is decided. */
  settled: boolean;
  /** Sent on to the server. */
  released: boolean;
}

/** RFC 7888: LITERAL- allows non-synchronizing literals up to this size. */
const LITERAL_MINUS_MAX = 4096;

/** Whether a literal of `size` bytes may go to the server without waiting for its continuation. */
export function nonSyncLiteral(serverCaps: { has(name: string): boolean }, size: number): boolean {
  return serverCaps.has('LITERAL+') || (serverCaps.has('LITERAL-') && size <= LITERAL_MINUS_MAX);
}

export interface AppendRefusal {
  /** The response code of the client's NO. */
  code: string;
  text: string;
  logText: string;
  level: 'info' | 'warn';
}

/** Why one message of an APPEND must not be stored, or null when its clean verdict lets it through. */
export function appendRefusal(m: AppendMessage): AppendRefusal | null {
  if (m.failed) {
    const code = m.failed.temporary ? 'UNAVAILABLE' : 'TOOBIG';
    return { code, text: m.failed.toReplyText(), logText: m.failed.code, level: 'warn' };
  }
  const r = m.result!;
  switch (r.action) {
    case 'release':
      return null;
    case 'refuse':
      return { code: 'ALERT', text: r.reply, logText: r.reply, level: 'info' };
    // The driver scans IMAP captures as incoming mail, so an infected APPEND may come back as `replace`: refuse it
    // all the same, the original is already in quarantine.
    case 'replace':
      return {
        code: 'ALERT',
        text: `the message was not saved: ${describeVerdict(r)}; the original is in quarantine as ${r.quarantineId}`,
        logText: describeVerdict(r),
        level: 'info',
      };
    case 'tempfail':
      return {
        code: 'UNAVAILABLE',
        text: `the message could not be scanned (${r.reason}); try again later`,
        logText: r.reason,
        level: 'warn',
      };
  }
}

function describeVerdict(r: ScanAction): string {
  const v = r.verdict;
  if (v.kind === 'infected') return `it contains ${v.signature} (${v.engine})`;
  if (v.kind === 'blocked') return `it was blocked by rule ${v.rule} (${v.engine})`;
  return 'it was refused';
}

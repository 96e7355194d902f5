// The demo mail server's POP3 side (RFC 1939, with CAPA from RFC 2449), as a sans-I/O state machine: bytes from
// the client in, bytes to send out. Small but correct, because the shield in front of it is what the demo shows:
// USER/PASS, CAPA, STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP, QUIT, dot-stuffing, and deletions applied on QUIT.
// src/demo/servers.ts runs it over TLS sockets.
import { dotStuff } from '../core/dot-stuffing.js';
import type { DemoMailbox, DemoMessage } from './mailbox.js';

/** RFC 1939 caps a command at 255 octets with its CRLF; a little slack, then the connection is dropped. */
const MAX_COMMAND_BYTES = 1024;

export interface DemoPop3Options {
  /** Shown in the greeting, e.g. "mail.demo.test". */
  host: string;
  user: string;
  password: string;
}

export interface Pop3Output {
  out: Buffer;
  /** The server has said goodbye (or given up on the client): close after writing `out`. */
  close: boolean;
}

const CAPABILITIES = ['USER', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'IMPLEMENTATION mailshield-demo'];

function multi(status: string, lines: string[]): Buffer {
  const body = lines.length ? Buffer.from(lines.join('\r\n') + '\r\n', 'utf8') : Buffer.alloc(0);
  return Buffer.concat([Buffer.from(`+OK ${status}\r\n`), dotStuff(body)]);
}

/** The header block plus `n` body lines, for TOP. */
function topOf(bytes: Buffer, n: number): Buffer {
  const sep = bytes.indexOf('\r\n\r\n');
  if (sep === -1) return bytes;
  let end = sep + 4;
  for (let i = 0; i < n && end < bytes.length; i++) {
    const lf = bytes.indexOf(0x0a, end);
    end = lf === -1 ? bytes.length : lf + 1;
  }
  return bytes.subarray(0, end);
}

export class DemoPop3Server {
  private state: 'authorization' | 'transaction' | 'closed' = 'authorization';
  private user: string | null = null;
  private messages: DemoMessage[] = [];
  private readonly deleted = new Set<number>();
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly mailbox: DemoMailbox,
    private readonly opts: DemoPop3Options,
  ) {}

  greeting(): Buffer {
    return Buffer.from(`+OK ${this.opts.host} POP3 demo server (mailshield) ready\r\n`);
  }

  /** Feeds client bytes; answers every complete command line, in order. */
  push(chunk: Buffer): Pop3Output {
    if (this.state === 'closed') return { out: Buffer.alloc(0), close: true };
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    let from = 0;
    for (;;) {
      const lf = this.pending.indexOf(0x0a, from);
      if (lf === -1) break;
      const line = this.pending.subarray(from, lf).toString('latin1').replace(/\r$/, '');
      from = lf + 1;
      out.push(this.command(line));
      if (this.isClosed()) return { out: Buffer.concat(out), close: true };
    }
    this.pending = this.pending.subarray(from);
    if (this.pending.length > MAX_COMMAND_BYTES) {
      this.state = 'closed';
      out.push(Buffer.from('-ERR command line too long\r\n'));
      return { out: Buffer.concat(out), close: true };
    }
    return { out: Buffer.concat(out), close: false };
  }

  // A method, not an inline comparison: command() changes the state behind the compiler's narrowing.
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /** The connection went away without QUIT: nothing is deleted (RFC 1939 §6). */
  abort(): void {
    this.state = 'closed';
  }

  private command(line: string): Buffer {
    const [verbRaw = '', ...args] = line.split(' ').filter((s) => s !== '');
    const verb = verbRaw.toUpperCase();
    const ok = (s: string) => Buffer.from(`+OK ${s}\r\n`);
    const err = (s: string) => Buffer.from(`-ERR ${s}\r\n`);

    if (verb === 'CAPA') return multi('capability list follows', CAPABILITIES);
    if (verb === 'NOOP' && this.state === 'transaction') return ok('');
    if (verb === 'QUIT') {
      if (this.state === 'transaction' && this.deleted.size > 0) {
        this.mailbox.remove([...this.deleted].map((n) => this.messages[n - 1]!.uid));
      }
      const n = this.deleted.size;
      this.state = 'closed';
      return ok(
        `${this.opts.host} POP3 demo server signing off${n ? ` (${n} message${n === 1 ? '' : 's'} deleted)` : ''}`,
      );
    }

    if (this.state === 'authorization') {
      if (verb === 'USER' && args.length === 1) {
        this.user = args[0]!;
        return ok('send your password');
      }
      if (verb === 'PASS') {
        // The password may contain spaces (RFC 1939 §7): take the rest of the line.
        const password = line.slice(line.indexOf(' ') + 1);
        const user = this.user;
        this.user = null;
        if (user === null) return err('USER first');
        if (user !== this.opts.user || password !== this.opts.password)
          return err(
            `[AUTH] invalid user name or password (the demo account is ${this.opts.user}/${this.opts.password})`,
          );
        this.messages = this.mailbox.snapshot();
        this.state = 'transaction';
        return ok(`${this.messages.length} messages for ${user}`);
      }
      return err(verb === '' ? 'empty command' : `${verb} is not valid before login; use USER and PASS`);
    }

    // Transaction state.
    const live = () => this.messages.map((m, i) => ({ n: i + 1, m })).filter(({ n }) => !this.deleted.has(n));
    const pick = (arg: string | undefined): { n: number; m: DemoMessage } | string => {
      if (arg === undefined || !/^\d{1,9}$/.test(arg)) return 'a message number is required';
      const n = Number(arg);
      const m = this.messages[n - 1];
      if (!m) return `no such message, only ${this.messages.length} in maildrop`;
      if (this.deleted.has(n)) return `message ${n} already deleted`;
      return { n, m };
    };

    switch (verb) {
      case 'STAT': {
        const l = live();
        return ok(`${l.length} ${l.reduce((s, { m }) => s + m.bytes.length, 0)}`);
      }
      case 'LIST':
      case 'UIDL': {
        const value = (n: number, m: DemoMessage) => (verb === 'LIST' ? String(m.bytes.length) : m.uid);
        if (args.length > 0) {
          const p = pick(args[0]);
          return typeof p === 'string' ? err(p) : ok(`${p.n} ${value(p.n, p.m)}`);
        }
        const l = live();
        return multi(
          `${l.length} messages`,
          l.map(({ n, m }) => `${n} ${value(n, m)}`),
        );
      }
      case 'RETR':
      case 'TOP': {
        const p = pick(args[0]);
        if (typeof p === 'string') return err(p);
        let bytes = p.m.bytes;
        if (verb === 'TOP') {
          if (args[1] === undefined || !/^\d{1,9}$/.test(args[1]))
            return err('TOP needs a message number and a line count');
          bytes = topOf(bytes, Number(args[1]));
        }
        return Buffer.concat([Buffer.from(`+OK ${p.m.bytes.length} octets\r\n`), dotStuff(bytes)]);
      }
      case 'DELE': {
        const p = pick(args[0]);
        if (typeof p === 'string') return err(p);
        this.deleted.add(p.n);
        return ok(`message ${p.n} deleted`);
      }
      case 'RSET':
        this.deleted.clear();
        return ok(`${this.messages.length} messages`);
      default:
        return err(verb === '' ? 'empty command' : `unknown command ${verb}`);
    }
  }
}

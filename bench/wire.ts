// A tight mail client over TLS for the benchmarks: it reads replies with O(bytes) work (literal and message bytes are
// counted and dropped, never concatenated) so the client is never what a run measures.
import net from 'node:net';
import tls from 'node:tls';

export interface TlsTarget {
  port: number;
  /** SNI and the name the certificate is checked against. */
  servername: string;
  /** PEM trust anchors. */
  ca: string | string[];
}

/** Consumes from the front of a chunk; returns how many bytes it took. Calls finish() when its reply is complete. */
type Reader = (chunk: Buffer) => number;

const POP3_END = Buffer.from('\r\n.\r\n');

export class Wire {
  private reader: Reader | null = null;
  private stash: Buffer[] = [];
  private failed: Error | null = null;
  private reject: ((e: Error) => void) | null = null;
  bytesIn = 0;

  private constructor(readonly sock: tls.TLSSocket) {
    sock.on('data', (c: Buffer) => this.onData(c));
    const fail = (e: Error) => {
      this.failed ??= e;
      this.reject?.(e);
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('connection closed')));
  }

  static connect(t: TlsTarget, timeoutMs = 30_000): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: t.port, servername: t.servername, ca: t.ca });
      const timer = setTimeout(() => s.destroy(new Error(`TLS connect to ${t.port} timed out`)), timeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.removeListener('error', onErr);
        resolve(new Wire(s));
      });
      const onErr = (e: Error) => {
        clearTimeout(timer);
        reject(e);
      };
      s.once('error', onErr);
    });
  }

  write(s: string | Buffer): void {
    this.sock.write(s);
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    const rest = this.feed(chunk);
    if (rest.length > 0) this.stash.push(rest);
  }

  /** Runs the current reader over a chunk; returns what no reader took. A reader that throws fails the read. */
  private feed(chunk: Buffer): Buffer {
    let c = chunk;
    try {
      while (c.length > 0 && this.reader) c = c.subarray(this.reader(c));
    } catch (e) {
      this.reader = null;
      const reject = this.reject;
      this.reject = null;
      reject?.(e instanceof Error ? e : new Error(String(e)));
      return Buffer.alloc(0);
    }
    return c;
  }

  private read<T>(make: (finish: (v: T) => void) => Reader): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<T>((resolve, reject) => {
      this.reject = reject;
      this.reader = make((v) => {
        this.reader = null;
        this.reject = null;
        resolve(v);
      });
      const pending = this.stash;
      this.stash = [];
      for (let i = 0; i < pending.length; i++) {
        const c = this.feed(pending[i]!);
        if (!this.reader) {
          if (c.length > 0) this.stash.push(c);
          this.stash.push(...pending.slice(i + 1));
          break;
        }
      }
    });
  }

  /** One line, CRLF stripped. */
  line(): Promise<string> {
    return this.read<string>((finish) => lineReader((l) => finish(l.toString('latin1').trimEnd())));
  }

  /** POP3 multi-line reply (RETR, LIST): the status line, then counts bytes up to CRLF.CRLF. Returns body bytes. */
  pop3Multi(): Promise<number> {
    return this.read<number>((finish) => {
      let status = true;
      // The CRLF ending the status line counts as the start of the terminator, so an empty body ends at ".\r\n".
      let tail = Buffer.from('\r\n');
      let body = 0;
      const statusLine = lineReader((l) => {
        const s = l.toString('latin1');
        if (!s.startsWith('+OK')) throw new Error(`POP3: ${s.trimEnd()}`);
        status = false;
      });
      return (chunk) => {
        if (status) return statusLine(chunk);
        const edge = Buffer.concat([tail, chunk.subarray(0, 4)]);
        let end = edge.indexOf(POP3_END);
        if (end >= 0) end = end + POP3_END.length - tail.length;
        else {
          const i = chunk.indexOf(POP3_END);
          if (i >= 0) end = i + POP3_END.length;
        }
        if (end >= 0) {
          body += end;
          finish(body);
          return end;
        }
        body += chunk.length;
        tail = Buffer.from(Buffer.concat([tail, chunk]).subarray(-4));
        return chunk.length;
      };
    });
  }

  /** SMTP reply (multi-line with "250-"); throws unless the code starts with `expect`. */
  smtp(expect: string): Promise<string> {
    return this.read<string>((finish) =>
      lineReader((l) => {
        const s = l.toString('latin1').trimEnd();
        if (s[3] === '-') return;
        if (!s.startsWith(expect)) throw new Error(`SMTP: expected ${expect}, got ${s}`);
        finish(s);
      }),
    );
  }

  /**
   * Reads an IMAP response up to the tagged line for `tag`, skipping literal bytes without copying them. Returns the
   * literal byte count and the first few untagged lines (for SELECT).
   */
  imap(tag: string): Promise<{ literalBytes: number; untagged: string[] }> {
    return this.read((finish) => {
      let litLeft = 0;
      let literalBytes = 0;
      const untagged: string[] = [];
      const lines = lineReader((l) => {
        const s = l.toString('latin1');
        const m = /\{(\d+)\+?\}\r\n$/.exec(s);
        if (m) {
          litLeft = Number(m[1]);
          return;
        }
        if (s.startsWith(`${tag} `)) {
          if (!s.startsWith(`${tag} OK`)) throw new Error(`IMAP: ${s.trimEnd()}`);
          finish({ literalBytes, untagged });
          return;
        }
        if (untagged.length < 20) untagged.push(s.trimEnd());
      });
      return (chunk) => {
        if (litLeft > 0) {
          const n = Math.min(litLeft, chunk.length);
          litLeft -= n;
          literalBytes += n;
          return n;
        }
        return lines(chunk);
      };
    });
  }

  /** An IMAP continuation ("+ ..."). */
  continuation(): Promise<string> {
    return this.read<string>((finish) =>
      lineReader((l) => {
        const s = l.toString('latin1').trimEnd();
        if (s.startsWith('+')) finish(s);
      }),
    );
  }
}

/**
 * A reader that splits lines and hands each to `onLine`, one line per call, so the owner can stop after the line
 * that completes its reply. Only a line split across chunks is copied.
 */
function lineReader(onLine: (line: Buffer) => void): Reader {
  let partial: Buffer | null = null;
  return (chunk) => {
    const nl = chunk.indexOf(10);
    if (nl < 0) {
      partial = partial ? Buffer.concat([partial, chunk]) : Buffer.from(chunk);
      return chunk.length;
    }
    const piece = chunk.subarray(0, nl + 1);
    const line = partial ? Buffer.concat([partial, piece]) : piece;
    partial = null;
    onLine(line);
    return nl + 1;
  };
}

/** Milliseconds from TCP connect to the first greeting line over TLS (workload 5). */
export function timeToGreeting(t: TlsTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const raw = net.connect(t.port, '127.0.0.1');
    const s = tls.connect({ socket: raw, servername: t.servername, ca: t.ca });
    let got = '';
    const timer = setTimeout(() => s.destroy(new Error('no greeting within 15 s')), 15_000);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\n')) {
        const ms = performance.now() - t0;
        clearTimeout(timer);
        s.destroy();
        resolve(ms);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

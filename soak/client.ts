// A small TLS mail client for the soak that keeps what it reads (messages are compared byte for byte). Every read has
// a deadline, so a stalled upstream or a dead shield ends a session with an error instead of hanging the soak.
import tls from 'node:tls';

export class MailSocket {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private closed: Error | null = null;

  private constructor(readonly sock: tls.TLSSocket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.waiter?.();
    });
    const end = (e?: Error) => {
      this.closed ??= e ?? new Error('connection closed');
      this.waiter?.();
    };
    sock.on('error', end);
    sock.on('close', () => end());
  }

  static connect(port: number, ca: string, timeoutMs = 20_000): Promise<MailSocket> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
      const t = setTimeout(() => s.destroy(new Error('connect timeout')), timeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(t);
        s.removeListener('error', fail);
        resolve(new MailSocket(s));
      });
      const fail = (e: Error) => {
        clearTimeout(t);
        reject(e);
      };
      s.once('error', fail);
    });
  }

  write(b: string | Buffer): void {
    if (!this.sock.destroyed) this.sock.write(b);
  }

  /** Waits until `take(buf)` returns a length (bytes to consume), then returns those bytes. */
  private async read(take: (b: Buffer) => number, timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = take(this.buf);
      if (n >= 0) {
        const out = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return out;
      }
      if (this.closed) throw this.closed;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('read timeout');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
  }

  async line(timeoutMs = 30_000): Promise<string> {
    const b = await this.read((buf) => {
      const i = buf.indexOf(0x0a);
      return i < 0 ? -1 : i + 1;
    }, timeoutMs);
    return b.toString('latin1').replace(/\r?\n$/, '');
  }

  until(end: Buffer, timeoutMs = 30_000): Promise<Buffer> {
    return this.read((buf) => {
      const i = buf.indexOf(end);
      return i < 0 ? -1 : i + end.length;
    }, timeoutMs);
  }

  bytes(n: number, timeoutMs = 30_000): Promise<Buffer> {
    return this.read((buf) => (buf.length >= n ? n : -1), timeoutMs);
  }

  /** Some bytes, whatever has arrived (a client about to vanish mid-transfer). */
  some(timeoutMs = 30_000): Promise<Buffer> {
    return this.read((buf) => (buf.length > 0 ? Math.min(buf.length, 512) : -1), timeoutMs);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

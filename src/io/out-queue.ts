// An ordered, backpressure-aware writer for one leg. Session commands mix small sends with streamed captures; a
// later `send` must never overtake an earlier capture, so everything for a leg goes through one queue.
import type { Duplex } from 'node:stream';

type Item = Buffer | (() => AsyncIterable<Buffer>) | { end: true };

export class OutQueue {
  private items: Item[] = [];
  private pumping = false;
  private sock: Duplex | null = null;
  private idle: (() => void)[] = [];
  bytes = 0;

  constructor(private readonly onError: (e: unknown) => void) {}

  /** Points the queue at a (new) socket, e.g. after STARTTLS; pending items go to it. */
  attach(sock: Duplex): void {
    this.sock = sock;
    void this.pump();
  }

  /** Stops writing until `attach` (used while a TLS upgrade is in progress). */
  detach(): void {
    this.sock = null;
  }

  write(data: Buffer): void {
    if (data.length === 0) return;
    this.items.push(data);
    void this.pump();
  }

  stream(source: () => AsyncIterable<Buffer>): void {
    this.items.push(source);
    void this.pump();
  }

  end(): void {
    this.items.push({ end: true });
    void this.pump();
  }

  /** Drops everything pending: the leg is gone, nothing more can be written to it. */
  abandon(): void {
    this.items = [];
    this.sock = null;
    if (!this.pumping) for (const r of this.idle.splice(0)) r();
  }

  /** Resolves once everything queued so far has been handed to the socket. */
  drained(): Promise<void> {
    if (!this.pumping && this.items.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.items.length > 0 && this.sock) {
        const sock = this.sock;
        const item = this.items.shift()!;
        if (Buffer.isBuffer(item)) {
          await this.put(sock, item);
        } else if (typeof item === 'function') {
          for await (const chunk of item()) await this.put(sock, chunk);
        } else {
          sock.end();
        }
      }
    } catch (e) {
      this.items = [];
      this.onError(e);
    } finally {
      this.pumping = false;
      if (this.items.length === 0) for (const r of this.idle.splice(0)) r();
    }
  }

  private put(sock: Duplex, chunk: Buffer): Promise<void> {
    if (sock.destroyed || sock.writableEnded) return Promise.resolve();
    this.bytes += chunk.length;
    if (sock.write(chunk)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        sock.off('drain', done);
        sock.off('close', done);
        resolve();
      };
      sock.on('drain', done);
      sock.on('close', done);
    });
  }
}

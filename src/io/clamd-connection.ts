// The one clamd client: a connection carrying one z-command (zINSTREAM with a streamed body, zPING) and its
// NUL-terminated reply. The scan engine and doctor both use it; what a reply means is decided by their callers.
import { connect, type Socket } from 'node:net';
import type { ErrorCode } from '../core/errors.js';
import { formatClamdAddress, type ClamdAddress } from '../scan/clamd.js';

/** A failure with the code the caller reports (unavailable, timeout, dropped). */
export class ClamdFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Chunk size on the wire. clamd reads chunks of any size; 64 KiB keeps memory flat and syscalls few. */
const CHUNK = 64 * 1024;

export class ClamdConnector {
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly address: ClamdAddress,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Sends `command` (e.g. "zINSTREAM\0") and, when given, `body` as INSTREAM chunks (4-byte length, data, then a zero
   * length). Resolves with clamd's reply text; rejects with a ClamdFailure. The timeout counts clamd's time, not the
   * body's: it stops while the next chunk is awaited, so a message fed live as it arrives (clamd-engine.ts) may take as
   * long as the network needs. `signal` drops the exchange and its socket (the capture was abandoned).
   */
  exchange(command: string, body?: AsyncIterable<Buffer>, signal?: AbortSignal): Promise<string> {
    const where = formatClamdAddress(this.address);
    return new Promise<string>((resolve, reject) => {
      const sock = 'path' in this.address ? connect(this.address.path) : connect(this.address.port, this.address.host);
      this.sockets.add(sock);
      const replyChunks: Buffer[] = [];
      // clamd answers once, and only after the body or when it refuses it (size limit): any byte from it means stop
      // sending, since writing on would only provoke the reset that can cost us the reply.
      const replied = () => replyChunks.length > 0;
      let connected = false;
      let done = false;
      const finish = (err: Error | null, text?: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.sockets.delete(sock);
        sock.destroy();
        if (err) reject(err);
        else resolve(text ?? '');
      };
      const replyText = () => Buffer.concat(replyChunks).toString('utf8');
      const expire = () =>
        finish(
          new ClamdFailure(
            'MS_ERR_CLAMD_TIMEOUT',
            connected
              ? `clamd at ${where} did not answer within ${this.timeoutMs} ms (scan.clamd.timeoutMs)`
              : `clamd at ${where} did not accept a connection within ${this.timeoutMs} ms`,
          ),
        );
      let timer: NodeJS.Timeout | undefined = setTimeout(expire, this.timeoutMs);
      /** While the body has no chunk for us yet, clamd owes us nothing: the clock stops, and restarts after. */
      const waitingForBody = (waiting: boolean) => {
        clearTimeout(timer);
        timer = waiting || done ? undefined : setTimeout(expire, this.timeoutMs);
      };
      const onAbort = () => finish(new ClamdFailure('MS_ERR_SCAN_ENGINE', `the scan at clamd ${where} was dropped`));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      sock.on('data', (d: Buffer) => {
        replyChunks.push(d);
        if (d.includes(0)) finish(null, replyText());
      });
      sock.on('end', () => finish(null, replyText()));
      sock.on('error', (e: NodeJS.ErrnoException) => {
        // clamd closes early when it refuses (size limit): its reply, if any, explains better than EPIPE.
        if (replyChunks.length > 0) return finish(null, replyText());
        if (!connected)
          return finish(
            new ClamdFailure(
              'MS_ERR_CLAMD_UNAVAILABLE',
              `clamd is not reachable at ${where} (${e.code ?? e.message}); is clamd running?`,
            ),
          );
        const reset = e.code === 'ECONNRESET' || e.code === 'EPIPE';
        finish(
          new ClamdFailure(
            'MS_ERR_SCAN_ENGINE',
            `clamd at ${where} dropped the connection (${e.code ?? e.message})` +
              (reset && body
                ? ' while mailshield was still sending; clamd does this when a stream exceeds its StreamMaxLength ' +
                  '(compare clamd.conf with scan.clamd.streamMaxLength)'
                : ''),
          ),
        );
      });
      sock.on('connect', () => {
        connected = true;
        send(sock, command, body, replied, waitingForBody).catch((e: unknown) => {
          if (!replied()) finish(e instanceof Error ? e : new Error(String(e)));
        });
      });
    });
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

/**
 * Lets the event loop poll the socket twice before the next write, so a reply already on its way is read (and `stop`
 * turns true) first. Without it the writes run back to back in microtasks, the reply is never read, and the write
 * that meets clamd's reset (it closes with our data unread: ECONNRESET, EPIPE) makes Node destroy the socket with
 * the reply still in the kernel. Two polls, not one: what we wrote is read by clamd at the earliest in the next poll
 * (clamd in this process, as in tests), and its answer reaches us in the one after. Each 64 KiB chunk costs three
 * loop turns, a few tens of microseconds; only a reply and reset arriving between a poll and our write can still be
 * lost, and `dropped` below then names the likely cause.
 */
const turn = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(() => setImmediate(resolve))));

async function send(
  sock: Socket,
  command: string,
  body: AsyncIterable<Buffer> | undefined,
  stop: () => boolean,
  waitingForBody: (waiting: boolean) => void,
) {
  const write = (b: Buffer) =>
    new Promise<void>((resolve, reject) => {
      if (sock.destroyed) return reject(new Error('connection closed while sending'));
      if (sock.write(b)) return resolve();
      const onDrain = () => {
        sock.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        sock.off('drain', onDrain);
        reject(new Error('connection closed while sending'));
      };
      sock.once('drain', onDrain);
      sock.once('close', onClose);
    });
  await write(Buffer.from(command, 'latin1'));
  if (!body) return;
  const it = body[Symbol.asyncIterator]();
  try {
    // Each round sends one chunk of the body or ends with it.
    for (;;) {
      waitingForBody(true);
      const next = await it.next();
      waitingForBody(false);
      if (next.done) break;
      const buf = next.value;
      for (let off = 0; off < buf.length; off += CHUNK) {
        await turn();
        if (stop()) return;
        const piece = buf.subarray(off, Math.min(buf.length, off + CHUNK));
        const len = Buffer.alloc(4);
        len.writeUInt32BE(piece.length);
        await write(Buffer.concat([len, piece]));
      }
    }
  } finally {
    // Also when clamd answered early or the socket failed: a live body stops being fed (see ChunkFeed).
    await it.return?.();
  }
  await turn();
  if (!stop()) await write(Buffer.alloc(4));
}

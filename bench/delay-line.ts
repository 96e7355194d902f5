// W10's fallback where the kernel has no netem qdisc: a TCP relay on loopback that holds every chunk for a fixed
// delay and paces each direction at a fixed rate, placed in front of an upstream. Every path (direct included)
// connects through it, so it costs each of them the same.
import net from 'node:net';

export interface DelayLine {
  port: number;
  close(): Promise<void>;
}

/**
 * One direction: chunks leave `delayMs` after they arrived, and no faster than `bitsPerSec`, in order. One queue and
 * one timer per direction: a timer per chunk could fire out of order (timers are kept per duration).
 */
function pipeDelayed(from: net.Socket, to: net.Socket, delayMs: number, bitsPerSec: number): void {
  const HIGH = 4 * 1024 * 1024;
  const queue: { at: number; chunk: Buffer }[] = [];
  let head = 0;
  let free = 0;
  let queued = 0;
  let ended = false;
  let timer: NodeJS.Timeout | null = null;
  const pump = () => {
    timer = null;
    const now = performance.now();
    while (head < queue.length && queue[head]!.at <= now + 0.5) {
      const { chunk } = queue[head++]!;
      queued -= chunk.length;
      if (!to.destroyed) to.write(chunk);
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
    if (queued < HIGH / 2) from.resume();
    if (head < queue.length) timer = setTimeout(pump, Math.max(0, queue[head]!.at - now));
    else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    const now = performance.now();
    free = Math.max(now + delayMs, free + (chunk.length * 8 * 1000) / bitsPerSec);
    queue.push({ at: free, chunk });
    queued += chunk.length;
    if (queued > HIGH) from.pause();
    timer ??= setTimeout(pump, free - now);
  });
  from.on('end', () => {
    ended = true;
    if (!timer && head === queue.length) to.end();
  });
}

export async function startDelayLine(upstreamPort: number, delayMs: number, bitsPerSec: number): Promise<DelayLine> {
  const sockets = new Set<net.Socket>();
  // Half-open allowed: a FIN is passed on only after the data queued before it, so a QUIT reply is never cut off.
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    const up = net.connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true, allowHalfOpen: true });
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        up.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    pipeDelayed(client, up, delayMs, bitsPerSec);
    pipeDelayed(up, client, delayMs, bitsPerSec);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

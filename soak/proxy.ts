// The fault proxy between the shield and a real upstream: a plain TCP relay the soak can cut (one connection in the
// middle of its transfer) or stall (stop forwarding for a while). TLS passes through untouched, so the shield still
// verifies the real server. Loopback only.
import net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  bytes: number;
}

export class FaultProxy {
  private readonly pairs = new Set<Pair>();
  private stalled = false;
  private stallTimer: NodeJS.Timeout | null = null;
  cuts = 0;
  stalls = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private target: number,
  ) {}

  static async start(targetPort: number): Promise<FaultProxy> {
    let self: FaultProxy | null = null;
    const server = net.createServer((c) => self!.accept(c));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new FaultProxy(server, (server.address() as net.AddressInfo).port, targetPort);
    return self;
  }

  /** Points new connections at another port (clamd restarted on a new one). */
  retarget(port: number): void {
    this.target = port;
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.target, '127.0.0.1');
    const pair: Pair = { client, upstream, bytes: 0 };
    this.pairs.add(pair);
    const relay = (from: net.Socket, to: net.Socket) =>
      from.on('data', (d: Buffer) => {
        pair.bytes += d.length;
        if (!to.write(d)) from.pause();
      });
    relay(client, upstream);
    relay(upstream, client);
    client.on('drain', () => !this.stalled && upstream.resume());
    upstream.on('drain', () => !this.stalled && client.resume());
    if (this.stalled) {
      client.pause();
      upstream.pause();
    }
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  }

  /** Cuts one connection that is carrying data (mid-message as far as the proxy can tell). */
  cutOne(rand: () => number): boolean {
    const busy = [...this.pairs].filter((p) => p.bytes > 0);
    const p = busy[Math.floor(rand() * busy.length)];
    if (!p) return false;
    p.client.destroy();
    p.upstream.destroy();
    this.cuts++;
    return true;
  }

  /** Stops forwarding in both directions for `ms`, then resumes. */
  stall(ms: number): void {
    if (this.stalled) return;
    this.stalled = true;
    this.stalls++;
    for (const p of this.pairs) {
      p.client.pause();
      p.upstream.pause();
    }
    this.stallTimer = setTimeout(() => this.unstall(), ms);
  }

  private unstall(): void {
    this.stalled = false;
    for (const p of this.pairs) {
      p.client.resume();
      p.upstream.resume();
    }
  }

  get open(): number {
    return this.pairs.size;
  }

  close(): Promise<void> {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    return new Promise((r) => this.server.close(() => r()));
  }
}

// Where a redirected connection was going, and upstream sockets the redirect lets through. Node has no API for
// either: SO_ORIGINAL_DST is a getsockopt and SO_MARK a setsockopt that must happen before connect(). koffi (an FFI
// whose npm package ships prebuilt binaries, so no compiler at install) calls libc on the socket's file descriptor.
// When getsockopt fails (a kernel without the option, an exotic socket), /proc/net/nf_conntrack gives the same answer.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import { ShieldError } from '../../core/errors.js';
import type { Destination } from '../../core/intercept.js';

type KoffiFn = (...args: unknown[]) => number;
interface Libc {
  getsockopt: KoffiFn;
  setsockopt: KoffiFn;
  socket: KoffiFn;
  close: KoffiFn;
}

const SOL_SOCKET = 1;
const SO_MARK = 36;
const SOL_IP = 0;
const SOL_IPV6 = 41;
/** SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST share the number 80 (linux/netfilter_ipv4.h, netfilter_ipv6/ip6_tables.h). */
const SO_ORIGINAL_DST = 80;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

let libc: Libc | null | undefined;

/** koffi is loaded on first use only: a config without intercept mode never needs it. */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    libc = {
      getsockopt: lib.func('int getsockopt(int, int, int, _Out_ uint8_t *buf, _Inout_ uint32_t *len)') as KoffiFn,
      setsockopt: lib.func('int setsockopt(int, int, int, const uint8_t *buf, uint32_t len)') as KoffiFn,
      socket: lib.func('int socket(int, int, int)') as KoffiFn,
      close: lib.func('int close(int)') as KoffiFn,
    };
  } catch {
    libc = null;
  }
  return libc;
}

/** The file descriptor behind a net.Socket; Node keeps it on the libuv handle (not public API, stable since 0.x). */
function fdOf(sock: net.Socket): number | null {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/** Decodes a sockaddr_in / sockaddr_in6 (family in host order, port in network order). */
export function parseSockaddr(buf: Buffer): Destination | null {
  const family = buf.readUInt16LE(0);
  const port = buf.readUInt16BE(2);
  if (family === AF_INET && buf.length >= 8) return { ip: [...buf.subarray(4, 8)].join('.'), port };
  if (family === AF_INET6 && buf.length >= 24) {
    const groups: string[] = [];
    for (let i = 8; i < 24; i += 2) groups.push(buf.readUInt16BE(i).toString(16));
    // net.SocketAddress canonicalizes (compresses zeros) for us.
    const ip = new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
    return { ip: ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1'), port };
  }
  return null;
}

/** SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST on the socket's fd; null when the option or koffi is unavailable. */
export function viaGetsockopt(sock: net.Socket): Destination | null {
  const c = loadLibc();
  const fd = fdOf(sock);
  if (!c || fd === null) return null;
  const v6 = net.isIPv6(sock.localAddress ?? '');
  const buf = Buffer.alloc(28);
  const len = [buf.length];
  if (c.getsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, SO_ORIGINAL_DST, buf, len) !== 0) return null;
  return parseSockaddr(buf.subarray(0, len[0]));
}

/**
 * Finds the connection in /proc/net/nf_conntrack text by its reply tuple (the listener answering the client) and
 * returns the original tuple's destination.
 */
/** One spelling per address: conntrack prints IPv6 fully expanded (0000:…:0001), sockets say ::1. */
function canonIp(ip: string): string {
  const bare = ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  if (net.isIPv6(bare)) return new net.SocketAddress({ address: bare, family: 'ipv6' }).address;
  return bare;
}

export function findInConntrack(
  text: string,
  c: { clientIp: string; clientPort: number; localIp: string; localPort: number },
): Destination | null {
  for (const line of text.split('\n')) {
    if (!/\btcp\b/.test(line)) continue;
    const fields = [...line.matchAll(/\b(src|dst|sport|dport)=(\S+)/g)].map((m) => m[2]!);
    if (fields.length < 8) continue;
    const [, oDst, oSport, oDport, rSrc, rDst, rSport, rDport] = fields as [string, ...string[]] as string[];
    if (
      canonIp(rSrc!) === canonIp(c.localIp) &&
      Number(rSport) === c.localPort &&
      canonIp(rDst!) === canonIp(c.clientIp) &&
      Number(rDport) === c.clientPort &&
      Number(oSport) === c.clientPort
    )
      return { ip: canonIp(oDst!), port: Number(oDport) };
  }
  return null;
}

/** The fallback on its own (exported for the namespace test that compares it with getsockopt). */
export async function viaConntrack(sock: net.Socket): Promise<Destination | null> {
  const text = await readFile('/proc/net/nf_conntrack', 'utf8').catch(() => null);
  if (text === null) return null;
  return findInConntrack(text, {
    clientIp: sock.remoteAddress ?? '',
    clientPort: sock.remotePort ?? 0,
    localIp: sock.localAddress ?? '',
    localPort: sock.localPort ?? 0,
  });
}

/** The destination the client dialled before the redirect; the local address when it was not redirected. */
export async function originalDestination(sock: net.Socket): Promise<Destination> {
  const found = viaGetsockopt(sock) ?? (await viaConntrack(sock));
  if (found) return found;
  throw new ShieldError(
    'MS_ERR_INTERCEPT_ORIGINAL_DST',
    `cannot tell where the redirected connection from ${sock.remoteAddress}:${sock.remotePort} was going: SO_ORIGINAL_DST failed and /proc/net/nf_conntrack has no entry for it`,
    { fix: 'intercept mode needs Linux netfilter connection tracking (the nf_conntrack module)' },
  );
}

/**
 * A TCP connection whose packets carry `mark` from the first SYN on, so the intercept rules let it through. The
 * socket is made with libc and marked before Node connects it (net.Socket adopts an unconnected fd). Needs
 * CAP_NET_ADMIN, which installing the rules needed anyway.
 */
export function connectMarked(dst: Destination, mark: number, timeoutMs: number): Promise<net.Socket> {
  const c = loadLibc();
  if (!c) {
    return Promise.reject(
      new ShieldError('MS_ERR_INTERCEPT_RULES', 'cannot mark upstream sockets: the koffi FFI library did not load', {
        fix: 'reinstall mailshield (npm ci); koffi ships prebuilt binaries for Linux x64, arm64 and more',
      }),
    );
  }
  const v6 = net.isIPv6(dst.ip);
  const fd = c.socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Promise.reject(new ShieldError('MS_ERR_UPSTREAM_CONNECT', 'socket() failed for the upstream'));
  const val = Buffer.alloc(4);
  val.writeUInt32LE(mark >>> 0);
  if (c.setsockopt(fd, SOL_SOCKET, SO_MARK, val, 4) !== 0) {
    c.close(fd);
    return Promise.reject(
      new ShieldError('MS_ERR_INTERCEPT_RULES', 'cannot set SO_MARK on an upstream socket', {
        fix: 'intercept mode needs root or CAP_NET_ADMIN',
      }),
    );
  }
  return new Promise((resolve, reject) => {
    const sock = new net.Socket({ fd, readable: true, writable: true });
    sock.setNoDelay(true);
    const where = `${dst.ip}:${dst.port}`;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ShieldError('MS_ERR_UPSTREAM_TIMEOUT', `upstream ${where} did not accept within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(sock);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      reject(
        new ShieldError('MS_ERR_UPSTREAM_CONNECT', `cannot connect to upstream ${where}: ${e.code ?? e.message}`, {
          cause: e,
        }),
      );
    });
    sock.connect(dst.port, dst.ip);
  });
}

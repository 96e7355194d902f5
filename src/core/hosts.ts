// Host names and addresses as text: the one place pure code asks "is this an IP?" or "is this loopback?". isIP and
// friends come from node:net but are pure string functions; the linter lets only them through from node:net outside
// the edge folders, and this file is their one importer, so every layer agrees on what an address is.
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { ShieldError } from './errors.js';

/** 4 or 6 for an IPv4 or IPv6 address literal, 0 for anything else (names, brackets, ports). */
export function ipFamily(s: string): 0 | 4 | 6 {
  return isIP(s) as 0 | 4 | 6;
}

/**
 * Addresses only this machine can reach: localhost and *.localhost (RFC 6761), 127.0.0.0/8, ::1 in any spelling and
 * IPv4-mapped 127.x. Brackets and a trailing dot are ignored. Used for the client-policy `auto` choice and for the
 * dashboard's listen and Host checks, so both sides draw the same line.
 */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

/** Splits "host:port" / "[v6]:port". */
export function splitHostPort(hp: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(hp) ?? /^([^:]+):(\d+)$/.exec(hp);
  if (!m) throw new ShieldError('MS_ERR_CONFIG_INVALID', `expected host:port, found "${hp}"`);
  return { host: m[1]!, port: Number(m[2]) };
}

// Dashboard access: the token (in the URL the banner prints), sessions (an HttpOnly, SameSite=Strict cookie), an
// optional scrypt password, and a rate limit on every login attempt. Pure apart from node:crypto; the clock is
// passed in.
import { randomBytes, scryptSync, timingSafeEqual, createHash } from 'node:crypto';

export const SESSION_COOKIE = 'mailshield_session';
/** A session lasts a working day; the token URL makes a new one. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Constant-time comparison of two secrets of any length (hashing first equalises the lengths). */
export function secretEquals(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

/** scrypt parameters: N=2^15 takes ~50-100 ms here, slow for a guesser, quick for one login. */
const SCRYPT = { N: 32768, r: 8, p: 1, keylen: 32 };

export function hashPassword(password: string, salt = randomBytes(16)): string {
  const key = scryptSync(password, salt, SCRYPT.keylen, {
    N: SCRYPT.N,
    r: SCRYPT.r,
    p: SCRYPT.p,
    maxmem: 64 * 1024 * 1024,
  });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function verifyPassword(password: string, stored: string): boolean {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const want = Buffer.from(m[5]!, 'base64');
  if (N > 2 ** 20 || r > 32 || p > 16 || want.length < 16) return false;
  const got = scryptSync(password, Buffer.from(m[4]!, 'base64'), want.length, { N, r, p, maxmem: 256 * 1024 * 1024 });
  return timingSafeEqual(got, want);
}

/**
 * A fixed window per client address plus one for everyone: brute-forcing a 192-bit token is hopeless anyway, but
 * the password may be weak, and a flood of scrypt calls would stall the process that relays mail.
 */
export class LoginLimiter {
  private readonly perClient = new Map<string, { start: number; n: number }>();
  private global = { start: 0, n: 0 };

  constructor(
    private readonly now: () => number,
    readonly maxPerClient = 10,
    readonly maxGlobal = 60,
    readonly windowMs = 60_000,
  ) {}

  /** Counts one attempt; false means refuse it (and say when to retry). */
  attempt(client: string): { ok: true } | { ok: false; retryAfterS: number } {
    const t = this.now();
    if (t - this.global.start >= this.windowMs) this.global = { start: t, n: 0 };
    let c = this.perClient.get(client);
    if (!c || t - c.start >= this.windowMs) {
      c = { start: t, n: 0 };
      this.perClient.set(client, c);
    }
    // Bounded memory: old windows go when the table grows.
    if (this.perClient.size > 10_000)
      for (const [k, v] of this.perClient) if (t - v.start >= this.windowMs) this.perClient.delete(k);
    c.n++;
    this.global.n++;
    if (c.n > this.maxPerClient || this.global.n > this.maxGlobal) {
      const until = Math.max(c.n > this.maxPerClient ? c.start : 0, this.global.start) + this.windowMs;
      return { ok: false, retryAfterS: Math.max(1, Math.ceil((until - t) / 1000)) };
    }
    return { ok: true };
  }
}

export interface DashboardSession {
  id: string;
  /** Who, for the audit trail of releases: "token@127.0.0.1". */
  who: string;
  expires: number;
}

export class Sessions {
  private readonly byId = new Map<string, DashboardSession>();

  constructor(private readonly now: () => number) {}

  create(who: string): DashboardSession {
    for (const [k, s] of this.byId) if (s.expires <= this.now()) this.byId.delete(k);
    const s = { id: randomBytes(24).toString('base64url'), who, expires: this.now() + SESSION_TTL_MS };
    this.byId.set(s.id, s);
    return s;
  }

  get(id: string | undefined): DashboardSession | undefined {
    if (!id) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    if (s.expires <= this.now()) {
      this.byId.delete(id);
      return undefined;
    }
    return s;
  }

  delete(id: string): void {
    this.byId.delete(id);
  }
}

/** The value of one cookie from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(id: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeS}`;
}

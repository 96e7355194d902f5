// The checks across fields that the schema cannot state: unique account names and listen addresses, intercept
// domains and hosts, and a dashboard that is safe to expose. validateConfig runs them after the schema parsed.
import type { Config } from './config.js';
import { ShieldError } from './errors.js';
import { ipFamily, isLoopbackHost, splitHostPort } from './hosts.js';

export function checkAccounts(cfg: Config, file: string): void {
  const seenNames = new Set<string>();
  const seenListen = new Map<string, string>();
  cfg.accounts.forEach((a, i) => {
    if (seenNames.has(a.name))
      throw new ShieldError(
        'MS_ERR_CONFIG_INVALID',
        `${file}: accounts[${i}].name: expected a unique name, found duplicate "${a.name}"`,
      );
    seenNames.add(a.name);
    // Port 0 asks the system for a free port, so it never collides (tests, the demo).
    if (a.listen.endsWith(':0')) return;
    const other = seenListen.get(a.listen);
    if (other)
      throw new ShieldError(
        'MS_ERR_CONFIG_INVALID',
        `${file}: accounts[${i}].listen: expected an address no other account uses, found ${a.listen} (also used by ${other})`,
      );
    seenListen.set(a.listen, a.name);
  });
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** Domains are lowercased without a trailing dot; hosts must name servers inside them, or they would never apply. */
export function checkIntercept(ic: Config['intercept'], file: string): void {
  const bad = (path: string, msg: string) =>
    new ShieldError('MS_ERR_CONFIG_INVALID', `${file}: intercept.${path}: ${msg}`);
  ic.domains = ic.domains.map((d) => d.toLowerCase().replace(/\.$/, ''));
  ic.domains.forEach((d, i) => {
    if (!DOMAIN.test(d)) throw bad(`domains[${i}]`, `expected a domain name such as example.com, found "${d}"`);
  });
  if (ic.enabled && ic.domains.length === 0)
    throw bad('domains', 'expected at least one mail domain when intercept.enabled is true, found none');
  const hosts: Record<string, string> = {};
  for (const [ip, name] of Object.entries(ic.hosts)) {
    if (ipFamily(ip) === 0) throw bad(`hosts.${ip}`, `expected an IP address as the key, found "${ip}"`);
    const n = name.toLowerCase().replace(/\.$/, '');
    if (!ic.domains.some((d) => n === d || n.endsWith(`.${d}`)))
      throw bad(`hosts.${ip}`, `expected a name inside intercept.domains (${ic.domains.join(', ')}), found "${name}"`);
    hosts[ip.toLowerCase()] = n;
  }
  ic.hosts = hosts;
  ic.ports = [...new Set(ic.ports)];
  const listenHost = splitHostPort(ic.listen).host;
  if (ic.gateway && (listenHost.startsWith('127.') || listenHost === '::1' || listenHost === 'localhost'))
    throw bad(
      'listen',
      `expected a LAN address or 0.0.0.0 with intercept.gateway (a prerouting redirect goes to the interface's address), found ${ic.listen}`,
    );
  const port = Number(/:(\d+)$/.exec(ic.listen)?.[1]);
  if ((ic.ports as readonly number[]).includes(port))
    throw bad('listen', `expected a port that is not itself intercepted (${ic.ports.join(', ')}), found ${ic.listen}`);
}

/** Whether two host:port strings name the same socket on this machine (loopback spellings and 0.0.0.0 included). */
function sameLocalSocket(a: string, b: string): boolean {
  const x = splitHostPort(a);
  const y = splitHostPort(b);
  if (x.port !== y.port || x.port === 0) return false;
  const wild = (h: string) => h === '0.0.0.0' || h === '::';
  const norm = (h: string) => (isLoopbackHost(h) ? 'loopback' : h.toLowerCase());
  return wild(x.host) || wild(y.host) || norm(x.host) === norm(y.host);
}

export function checkDashboard(cfg: Config, file: string): void {
  const d = cfg.dashboard;
  if (!d.enabled) return;
  const { host } = splitHostPort(d.listen);
  if (!isLoopbackHost(host) && !d.passwordHash)
    throw new ShieldError(
      'MS_ERR_CONFIG_INVALID',
      `${file}: dashboard.listen: expected a loopback address (127.0.0.1, ::1) or a dashboard.passwordHash, found ${d.listen} without a password`,
      {
        fix: 'run `mailshield dashboard hash-password` and put its output in dashboard.passwordHash, or use an SSH tunnel',
      },
    );
  cfg.accounts.forEach((a, i) => {
    // A loop through our own admin UI would relay mail-client bytes to the dashboard: refuse it before it starts.
    for (const key of ['upstream', 'listen'] as const)
      if (sameLocalSocket(a[key], d.listen))
        throw new ShieldError(
          'MS_ERR_CONFIG_INVALID',
          `${file}: accounts[${i}].${key}: expected an address other than the dashboard's own, found ${a[key]} (dashboard.listen is ${d.listen})`,
          { fix: 'change dashboard.listen, or point the account at the real mail server' },
        );
  });
}

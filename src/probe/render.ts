// Renderers for probe results: a compact human table (the three lines the story compared first) and the JSON
// contract. Pure: a result in, text out; colour is a parameter, decided by the CLI from process.stdout.isTTY.
import type { UpstreamPolicyName } from '../core/config.js';
import { UPSTREAM_POLICIES } from '../core/config.js';
import { humanProtocol } from '../tls/names.js';
import type { ProbeResult, ProfileVerdict, Trial } from './result.js';

export interface Paint {
  ok(s: string): string;
  warn(s: string): string;
  bad(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const ansi = (code: string) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
export const COLOUR: Paint = { ok: ansi('32'), warn: ansi('33'), bad: ansi('31'), dim: ansi('2'), bold: ansi('1') };
const id = (s: string) => s;
export const PLAIN: Paint = { ok: id, warn: id, bad: id, dim: id, bold: id };

export function paintFor(tty: boolean): Paint {
  return tty ? COLOUR : PLAIN;
}

function rows(pairs: [string, string][], indent = '  '): string[] {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${k.padEnd(w)}  ${v}`);
}

const none = (v: string | null | undefined, p: Paint, word = 'none') => (v ? v : p.dim(`(${word})`));

function trialText(t: Trial | null, p: Paint): string {
  if (!t) return p.dim('(not tried)');
  if (!t.ok) return p.bad('handshake fails');
  return `${t.signatureScheme ?? 'unobserved signature'} (${humanProtocol(t.protocol ?? '')}, ${t.cipher ?? '?'})`;
}

export function verdictWord(v: ProfileVerdict, p: Paint): string {
  if (!v.ok) return p.bad('REFUSED');
  return v.verdict === 'warn' ? p.warn('OK with warning') : p.ok('OK');
}

/** The human report. */
export function renderProbeHuman(r: ProbeResult, p: Paint): string {
  const out: string[] = [];
  const t = r.target;
  const mode =
    t.mode === 'starttls' ? `STARTTLS (${t.protocol ?? '?'})` : `implicit TLS${t.protocol ? ` (${t.protocol})` : ''}`;
  out.push(p.bold(`mailshield probe ${t.host}:${t.port}`) + `  ${mode}, server name ${t.servername}`);
  if (!r.reachable) {
    out.push(p.bad(`  unreachable: ${r.error ?? 'no answer'}`));
    return out.join('\n') + '\n';
  }
  out.push('');
  const versions = (Object.keys(r.versions) as (keyof ProbeResult['versions'])[])
    .map((v) => `${humanProtocol(v)} ${r.versions[v] ? p.ok('yes') : p.dim('no')}`)
    .join('  ');
  out.push(
    ...rows([
      ['Peer signing digest', none(r.tls.peerSigningDigest, p)],
      ['Peer signature type', none(r.tls.peerSignatureType, p)],
      ['Server Temp Key', none(r.tls.serverTempKey, p)],
      ['Protocol', r.tls.protocol ?? p.bad(r.tls.error ? `handshake failed: ${r.tls.error}` : '(no TLS)')],
      ['Cipher', none(r.tls.cipher, p)],
      ['Versions accepted', r.versionTrials ? versions : p.dim('(not tried)')],
      ['Without SHA-1 (TLS 1.2)', trialText(r.withoutSha1, p)],
    ]),
  );
  out.push('');
  out.push(
    ...rows([
      ['Greeting', none(r.greeting?.split('\n')[0], p)],
      ['Capabilities before TLS', r.capabilitiesBeforeTls ? r.capabilitiesBeforeTls.join(' ') : p.dim('(n/a)')],
      ['Capabilities after TLS', r.capabilitiesAfterTls ? r.capabilitiesAfterTls.join(' ') : p.dim('(n/a)')],
    ]),
  );

  if (r.certificates.length) {
    out.push('', p.bold('Certificates'));
    r.certificates.forEach((c, i) => {
      const key = `${c.keyType} ${c.keyBits}${c.curve ? ` (${c.curve})` : ''}`;
      out.push(`  #${i} ${c.subject}`);
      out.push(
        ...rows(
          [
            ['issuer', c.issuer],
            ['signature', c.signatureAlgorithm],
            ['key', key],
            ['valid', `${c.notBefore.slice(0, 10)} to ${c.notAfter.slice(0, 10)}`],
            ...(c.sans.length ? ([['names', c.sans.join(', ')]] as [string, string][]) : []),
          ],
          '     ',
        ),
      );
    });
  }
  const host =
    r.hostname.matches === null
      ? p.dim('(not checked)')
      : r.hostname.matches
        ? p.ok('matches')
        : p.bad(`does not match: ${r.hostname.error}`);
  out.push(`  Host name ${r.hostname.name}: ${host}`);
  out.push(
    `  Verification: ${r.verification.ok ? p.ok('OK') : p.bad('FAILED')}`,
    ...r.verification.errors.map((e) => `    - ${e}`),
  );

  if (r.findings.length) {
    out.push('', p.bold('STARTTLS'));
    for (const f of r.findings) out.push(`  ${f.level === 'refusal' ? p.bad('!') : p.warn('!')} ${f.message}`);
  }

  out.push('', p.bold('Upstream profiles'));
  for (const name of UPSTREAM_POLICIES) out.push(...profileLines(name, r.profiles[name], p, name === r.policy));
  out.push('');
  out.push(
    r.acceptable ? p.ok(`Acceptable under policy '${r.policy}'.`) : p.bad(`Refused under policy '${r.policy}'.`),
  );
  return out.join('\n') + '\n';
}

function profileLines(name: UpstreamPolicyName, v: ProfileVerdict, p: Paint, current: boolean): string[] {
  const label = `${name}${current ? '*' : ''}`.padEnd(10);
  const lines = [`  ${label} ${verdictWord(v, p)}`];
  for (const reason of v.reasons) lines.push(`             - ${reason}`);
  for (const w of v.warnings) lines.push(`             ~ ${w}`);
  for (const h of v.exceptionHints)
    lines.push(`             exception that admits it: {host: ${h.host}, allow: [${h.allow}], until: ${h.until}}`);
  for (const a of v.exceptionsApplied) lines.push(`             exception applied: ${a}`);
  for (const e of v.exceptionsExpired) lines.push(`             exception expired: ${e}`);
  return lines;
}

export function renderProbeJson(r: ProbeResult): string {
  return JSON.stringify(r, null, 2) + '\n';
}

// Formatting for the dashboard's views. Pure, no DOM. Text from mail (Subject, From, file names) is untrusted: the
// views only ever put it into text nodes, and visible() makes bidi overrides and control characters show as what
// they are instead of reordering or hiding the text around them.

/** Bidi controls, zero-width and other invisible format characters that can disguise a name (invoice‮fdp.exe). */
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
// eslint-disable-next-line no-control-regex
const CONTROL_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f]/g;

// The same <U+202E> notation the scanner uses in verdicts and notices (displayName in src/scan/builtin/rules.ts), so
// a file name reads the same in the list, the MIME tree and the mail client's notice.
const codePoint = (c: string) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`;

/** One-line untrusted text (a header value, a file name): every control and invisible character shown as <U+XXXX>. */
export function visible(s: string | null | undefined): string {
  if (s === null || s === undefined) return '';
  return s.replace(CONTROL_OR_NEWLINE, codePoint).replace(INVISIBLE, codePoint);
}

/** Multi-line untrusted text (a preview): line breaks and tabs stay, everything else as visible(). */
export function visibleText(s: string): string {
  return s.replace(/\r\n?/g, '\n').replace(CONTROL, codePoint).replace(INVISIBLE, codePoint);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** "2026-12-01 09:30:12" in UTC: one zone for everyone reading the same store, as in the logs. */
export function when(iso: string | null): string {
  if (!iso) return '';
  return iso
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '')
    .replace(/Z$/, '');
}

export function since(iso: string, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Splits a ShieldError message into what happened, what was offered, what was required, and the fix. */
export function explainParts(message: string): {
  what: string;
  offered: string | null;
  required: string | null;
  fix: string | null;
} {
  const parts = message.split('; ');
  const out = {
    what: parts[0] ?? message,
    offered: null as string | null,
    required: null as string | null,
    fix: null as string | null,
  };
  const rest: string[] = [];
  for (const p of parts.slice(1)) {
    if (p.startsWith('offered: ')) out.offered = p.slice(9);
    else if (p.startsWith('required: ')) out.required = p.slice(10);
    else rest.push(p);
  }
  out.fix = rest.length ? rest.join('; ') : null;
  return out;
}

/** An exception hint as the YAML line a user pastes under policy.exceptions. */
export function exceptionYaml(h: { host: string; allow: string; until: string }): string {
  return `- {host: ${h.host}, allow: [${h.allow}], until: ${h.until}}`;
}

export function tlsLine(t: { version: string | null; cipher: string | null } | null): string {
  if (!t) return '—';
  return [t.version, t.cipher].filter(Boolean).join(', ') || '—';
}

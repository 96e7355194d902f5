// Every line the shield itself says to an IMAP client or server. Text is flattened to one line so nothing a scanner or
// an error produced can inject protocol lines.

const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ').trim();

export const PREFIX = 'mailshield: ';

export const bye = (text: string): string => `* BYE [ALERT] ${PREFIX}${oneLine(text)}\r\n`;
/** The session or the driver failed internally: a temporary condition (RFC 5530 UNAVAILABLE), then the close. */
export const byeUnavailable = (text: string): string => `* BYE [UNAVAILABLE] ${PREFIX}${oneLine(text)}\r\n`;
export const byePlain = (text: string): string => `* BYE ${PREFIX}${oneLine(text)}\r\n`;
export const keepalive = (): string => `* OK ${PREFIX}scanning...\r\n`;
export const continuation = (text: string): string => `+ ${oneLine(text)}\r\n`;

export function tagged(tag: string, status: 'OK' | 'NO' | 'BAD', code: string | null, text: string): string {
  return `${tag} ${status} ${code ? `[${code}] ` : ''}${oneLine(text)}\r\n`;
}

export const shieldTagged = (tag: string, status: 'OK' | 'NO' | 'BAD', code: string | null, text: string): string =>
  tagged(tag, status, code, PREFIX + text);

/** `{n}` / `{n+}` / `~{n}` literal announcement with CRLF. */
export function literalMarker(size: number, binary: boolean, nonSync = false): string {
  return `${binary ? '~' : ''}{${size}${nonSync ? '+' : ''}}\r\n`;
}

// The soak's messages: each carries a unique key in its Subject, so whatever reaches a client (the original or a
// notice that keeps the subject) says which message it was. Some carry EICAR; some are big enough to spool.
import { createHash } from 'node:crypto';
import { eicar } from '../test/fixtures/util.js';

export interface SoakMessage {
  key: string;
  bytes: Buffer;
  infected: boolean;
  sha256: string;
}

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export function makeMessage(key: string, infected: boolean, size: number, rand: () => number): SoakMessage {
  const lines: string[] = [];
  let n = 0;
  let i = 0;
  while (n < size) {
    // Lines starting with a dot exercise dot-stuffing on every protocol.
    const l = `${i % 17 === 0 ? '.' : ''}line ${i} of ${key} ${Math.floor(rand() * 1e9).toString(36)}`.padEnd(
      60 + (i % 13),
      'x',
    );
    lines.push(l);
    n += l.length + 2;
    i++;
  }
  if (infected) lines.splice(Math.floor(lines.length / 2), 0, eicar());
  const text =
    `From: Soak Sender <sender@example.test>\r\nTo: user@example.test\r\nSubject: ${key}\r\n` +
    `Message-ID: <${key}@soak.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n` +
    `Content-Type: text/plain; charset=us-ascii\r\n\r\n${lines.join('\r\n')}\r\n`;
  const bytes = Buffer.from(text, 'latin1');
  return { key, bytes, infected, sha256: sha(bytes) };
}

/** The message key in bytes a client received (original or notice). */
export function keyIn(b: Buffer): string | null {
  const m = /soak-[a-z0-9]+-\d+/.exec(b.toString('latin1', 0, Math.min(b.length, 4096)));
  return m ? m[0] : null;
}

/** The quarantine id a notice points at, or null when the bytes are not a notice. */
export function noticeId(b: Buffer): string | null {
  const m = /mailshield quarantine export ([0-9a-f]{12})/.exec(b.toString('latin1'));
  return m ? m[1]! : null;
}

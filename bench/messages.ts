// Test messages shaped like real mail: a short text part and a base64 attachment, so the builtin engine has to
// decode what it scans. Made from a seeded generator, so every run sends the same bytes. No line starts with a dot
// (base64 has none), so POP3/SMTP dot-stuffing does not change sizes.
import { createHash } from 'node:crypto';

/** Deterministic pseudo-random bytes (SHA-256 in counter mode): fast enough for 50 MB and the same every run. */
function pseudoRandom(n: number, seed: string): Buffer {
  const out = Buffer.allocUnsafe(n);
  let off = 0;
  for (let i = 0; off < n; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    off += block.copy(out, off);
  }
  // Looks like a PDF to the builtin engine's content sniffing, so no executable/archive rule fires.
  out.write('%PDF-1.7\n', 0, 'latin1');
  return out;
}

function wrap76(b64: string): string {
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines.join('\r\n');
}

/** A multipart message of about `size` bytes (±1 KB). */
export function mimeMessage(size: number, seed: string): Buffer {
  const boundary = `----=_bench_${seed.replace(/[^A-Za-z0-9]/g, '')}`;
  const head =
    `From: Bench Sender <sender@bench.test>\r\nTo: user@example.test\r\nSubject: bench ${seed}\r\n` +
    `Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <${seed}@bench.test>\r\nMIME-Version: 1.0\r\n` +
    `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n` +
    `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n` +
    'Please find the report attached.\r\n\r\n' +
    `--${boundary}\r\nContent-Type: application/pdf; name="report-${seed}.pdf"\r\n` +
    `Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="report-${seed}.pdf"\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  // base64 grows 4/3, and every 76 characters add a CRLF.
  const room = Math.max(0, size - head.length - tail.length);
  const raw = Math.floor((room * 76) / 78 / 4) * 3;
  return Buffer.from(head + wrap76(pseudoRandom(raw, seed).toString('base64')) + tail, 'latin1');
}

// What a mail client does in each workload, as the same code for every target (direct, shield, stunnel, mitmproxy).
// Each returns the payload bytes it received or sent, so a run that silently lost data cannot look fast.
import { Wire, type TlsTarget } from './wire.js';

export interface Login {
  user: string;
  pass: string;
}

async function pop3Login(t: TlsTarget, l: Login): Promise<Wire> {
  const w = await Wire.connect(t);
  const greet = await w.line();
  if (!greet.startsWith('+OK')) throw new Error(`POP3 greeting: ${greet}`);
  w.write(`USER ${l.user}\r\n`);
  await w.line();
  w.write(`PASS ${l.pass}\r\n`);
  const ok = await w.line();
  if (!ok.startsWith('+OK')) throw new Error(`POP3 login: ${ok}`);
  return w;
}

/**
 * RETR 1..count, one at a time, as mail clients do. `readBytesPerSec` makes a slow client (a phone on a bad link): it
 * stops reading after each 256 KiB and resumes when its budget allows, so the relay has to hold back its sender.
 */
export async function pop3Download(
  t: TlsTarget,
  l: Login,
  count: number,
  opts: { readBytesPerSec?: number } = {},
): Promise<number> {
  const w = await pop3Login(t, l);
  if (opts.readBytesPerSec) throttle(w, opts.readBytesPerSec);
  let bytes = 0;
  try {
    for (let i = 1; i <= count; i++) {
      w.write(`RETR ${i}\r\n`);
      bytes += await w.pop3Multi();
    }
    w.write('QUIT\r\n');
    await w.line();
  } finally {
    w.close();
  }
  return bytes;
}

function throttle(w: Wire, bytesPerSec: number): void {
  const step = 256 * 1024;
  // The budget starts at the first byte of the download, not at login: the time the relay spends capturing and
  // scanning before it sends anything must not become credit that lets the "slow" client read tens of MB at full speed.
  let t0 = -1;
  let read = 0;
  let nextPause = step;
  w.sock.on('data', (c: Buffer) => {
    if (t0 < 0) t0 = performance.now();
    read += c.length;
    if (read < nextPause) return;
    nextPause = read + step;
    const due = (read / bytesPerSec) * 1000 - (performance.now() - t0);
    if (due <= 0) return;
    w.sock.pause();
    setTimeout(() => w.sock.resume(), due);
  });
}

export async function imapLogin(t: TlsTarget, l: Login, mailbox = 'INBOX'): Promise<Wire> {
  const w = await Wire.connect(t);
  const greet = await w.line();
  if (!greet.startsWith('* OK')) throw new Error(`IMAP greeting: ${greet}`);
  w.write(`a LOGIN ${l.user} ${l.pass}\r\n`);
  await w.imap('a');
  w.write(`b SELECT ${mailbox}\r\n`);
  await w.imap('b');
  return w;
}

export async function imapLogout(w: Wire): Promise<void> {
  try {
    w.write('z LOGOUT\r\n');
    await w.imap('z');
  } finally {
    w.close();
  }
}

/** One FETCH command for a whole range: the bulk download a client does on first sync. */
export async function imapFetch(t: TlsTarget, l: Login, range: string, item: string): Promise<number> {
  const w = await imapLogin(t, l);
  w.write(`c FETCH ${range} (${item})\r\n`);
  const { literalBytes } = await w.imap('c');
  await imapLogout(w);
  return literalBytes;
}

/** A large message read in sequential partial fetches (how imapflow and Thunderbird stream big messages). */
export async function imapPartials(t: TlsTarget, l: Login, size: number, chunk: number): Promise<number> {
  const w = await imapLogin(t, l);
  let bytes = 0;
  let n = 0;
  for (let off = 0; off < size; off += chunk) {
    const tag = `p${n++}`;
    w.write(`${tag} FETCH 1 (BODY.PEEK[]<${off}.${chunk}>)\r\n`);
    bytes += (await w.imap(tag)).literalBytes;
  }
  await imapLogout(w);
  return bytes;
}

/** SMTP submission with AUTH PLAIN, one transaction per message, no pipelining (what most clients do). */
export async function smtpSubmit(
  t: TlsTarget,
  l: Login,
  rcpt: string,
  messages: number,
  message: Buffer,
): Promise<number> {
  const w = await Wire.connect(t);
  let sent = 0;
  try {
    await w.smtp('220');
    w.write('EHLO bench.test\r\n');
    await w.smtp('250');
    w.write(`AUTH PLAIN ${Buffer.from(`\0${l.user}\0${l.pass}`).toString('base64')}\r\n`);
    await w.smtp('235');
    for (let i = 0; i < messages; i++) {
      w.write(`MAIL FROM:<${l.user}>\r\n`);
      await w.smtp('250');
      w.write(`RCPT TO:<${rcpt}>\r\n`);
      await w.smtp('250');
      w.write('DATA\r\n');
      await w.smtp('354');
      w.write(message);
      w.write('.\r\n');
      await w.smtp('250');
      sent += message.length;
    }
    w.write('QUIT\r\n');
    await w.smtp('221');
  } finally {
    w.close();
  }
  return sent;
}

/** An IMAP session parked in IDLE (workload 6). */
export async function imapIdle(t: TlsTarget, l: Login): Promise<Wire> {
  const w = await imapLogin(t, l);
  w.write('i IDLE\r\n');
  await w.continuation();
  return w;
}

/** NOOP round trips on a selected session; returns each latency in ms. */
export async function imapNoops(t: TlsTarget, l: Login, n: number): Promise<number[]> {
  const w = await imapLogin(t, l);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    w.write(`n${i} NOOP\r\n`);
    await w.imap(`n${i}`);
    out.push(performance.now() - t0);
  }
  await imapLogout(w);
  return out;
}

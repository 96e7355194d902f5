// The client sessions of the soak. Each runs one connection's worth of work, records what it saw in the ledger, and
// treats a fault (cut, stall, dead shield) as an outcome, never as a reason to stop the soak.
import { MailSocket } from './client.js';
import { keyIn, type SoakMessage } from './messages.js';
import type { Ledger, SubmitOutcome } from './ledger.js';

export interface FlowCtx {
  ledger: Ledger;
  ca: () => string;
  rand: () => number;
  /** Clients that vanish mid-transfer, on purpose. */
  vanishRate: number;
}

const int = (r: () => number, n: number) => Math.floor(r() * n);

function unstuff(body: Buffer): Buffer {
  // POP3 multi-line body without its terminator: remove the stuffing dot of each line.
  const text = body.toString('latin1');
  const lines = text.split('\r\n');
  return Buffer.from(lines.map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\r\n'), 'latin1');
}

/** POP3: log in, RETR (or TOP) a few messages, QUIT. Never DELE: the server keeps every message. */
export async function pop3Session(ctx: FlowCtx, port: number, user: string, count: number): Promise<void> {
  const s = await MailSocket.connect(port, ctx.ca());
  try {
    await s.line();
    s.write(`USER ${user}\r\n`);
    await s.line();
    s.write('PASS soak-Secret1\r\n');
    if (!(await s.line()).startsWith('+OK')) throw new Error('pop3 login refused');
    for (let k = 0; k < 3; k++) {
      const n = 1 + int(ctx.rand, count);
      s.write(`RETR ${n}\r\n`);
      const status = await s.line();
      if (!status.startsWith('+OK')) {
        ctx.ledger.download('tempfail');
        continue;
      }
      if (ctx.rand() < ctx.vanishRate) {
        await s.some();
        ctx.ledger.download('vanished');
        return;
      }
      const raw = await s.until(Buffer.from('\r\n.\r\n'));
      const body = unstuff(raw.subarray(0, raw.length - 3));
      ctx.ledger.received(keyIn(body), body, null);
    }
    s.write('QUIT\r\n');
    await s.line();
  } finally {
    s.destroy();
  }
}

/** Reads one tagged IMAP response, collecting each literal with the text before it. */
async function imapResponse(
  s: MailSocket,
  tag: string,
): Promise<{ status: string; literals: { item: string; data: Buffer }[] }> {
  const literals: { item: string; data: Buffer }[] = [];
  for (let guard = 0; guard < 10_000; guard++) {
    const line = await s.line();
    let l = line;
    for (let m = /\{(\d+)\}$/.exec(l); m; m = /\{(\d+)\}$/.exec(l)) {
      const data = await s.bytes(Number(m[1]));
      literals.push({ item: l.slice(0, m.index).trim().split(' ').pop() ?? '', data });
      l = await s.line();
    }
    if (line.startsWith(`${tag} `)) return { status: line.slice(tag.length + 1), literals };
  }
  throw new Error('imap response without end');
}

async function imapLogin(ctx: FlowCtx, port: number, user: string): Promise<MailSocket> {
  const s = await MailSocket.connect(port, ctx.ca());
  await s.line();
  s.write(`a1 LOGIN ${user} soak-Secret1\r\n`);
  if (!(await imapResponse(s, 'a1')).status.startsWith('OK')) throw new Error('imap login refused');
  s.write('a2 SELECT INBOX\r\n');
  await imapResponse(s, 'a2');
  return s;
}

/** IMAP: whole, partial and part fetches of random messages. */
export async function imapSession(ctx: FlowCtx, port: number, user: string, count: number): Promise<void> {
  const s = await imapLogin(ctx, port, user);
  try {
    for (let k = 0; k < 3; k++) {
      const n = 1 + int(ctx.rand, count);
      const style = int(ctx.rand, 3);
      const item = style === 0 ? 'BODY.PEEK[]' : style === 1 ? 'BODY.PEEK[]<0.300>' : 'BODY.PEEK[1]';
      const tag = `f${k}`;
      s.write(`${tag} FETCH ${n} (BODY.PEEK[HEADER.FIELDS (SUBJECT)] ${item})\r\n`);
      if (ctx.rand() < ctx.vanishRate) {
        await s.some();
        ctx.ledger.download('vanished');
        return;
      }
      const r = await imapResponse(s, tag);
      if (!r.status.startsWith('OK') || r.literals.length < 2) {
        ctx.ledger.download('tempfail');
        continue;
      }
      const key = keyIn(r.literals[0]!.data);
      const data = r.literals[1]!.data;
      // BODY[1] of a single-part message is its body; only whole and partial fetches compare against the original.
      if (style === 2) {
        if (key) ctx.ledger.download('intact');
        else ctx.ledger.violation(`imap part fetch without a subject: ${data.toString('latin1', 0, 80)}`);
      } else ctx.ledger.received(key, data, style === 1 ? 300 : null);
    }
    s.write('z LOGOUT\r\n');
  } finally {
    s.destroy();
  }
}

/** IMAP IDLE for a bounded while, then DONE and LOGOUT. */
export async function idleSession(ctx: FlowCtx, port: number, user: string, holdMs: number): Promise<void> {
  const s = await imapLogin(ctx, port, user);
  try {
    s.write('i1 IDLE\r\n');
    await s.line();
    await new Promise((r) => setTimeout(r, holdMs));
    s.write('DONE\r\n');
    await imapResponse(s, 'i1');
    s.write('z LOGOUT\r\n');
  } finally {
    s.destroy();
  }
}

/** IMAP APPEND of a new message (scanned as outgoing mail). */
export async function appendSession(ctx: FlowCtx, port: number, user: string, msg: SoakMessage): Promise<void> {
  let outcome: SubmitOutcome = 'cut';
  let s: MailSocket | null = null;
  try {
    s = await imapLogin(ctx, port, user);
    s.write(`p1 APPEND INBOX {${msg.bytes.length}}\r\n`);
    const go = await s.line();
    if (!go.startsWith('+')) {
      outcome = 'tempfail';
      return;
    }
    s.write(Buffer.concat([msg.bytes, Buffer.from('\r\n')]));
    const r = await imapResponse(s, 'p1');
    outcome = r.status.startsWith('OK') ? 'accepted' : /\[ALERT\]/.test(r.status) ? 'refused' : 'tempfail';
    s.write('z LOGOUT\r\n');
  } finally {
    ctx.ledger.submitted(msg, 'append', outcome);
    s?.destroy();
  }
}

/** SMTP submission over implicit TLS with AUTH PLAIN. */
export async function smtpSession(
  ctx: FlowCtx,
  port: number,
  login: { user: string; pass: string },
  msg: SoakMessage,
): Promise<void> {
  let outcome: SubmitOutcome = 'cut';
  let s: MailSocket | null = null;
  const reply = async (): Promise<string> => {
    for (;;) {
      const l = await s!.line();
      if (/^\d{3} /.test(l) || /^\d{3}$/.test(l)) return l;
    }
  };
  try {
    s = await MailSocket.connect(port, ctx.ca());
    await reply();
    s.write('EHLO soak.test\r\n');
    await reply();
    s.write(`AUTH PLAIN ${Buffer.from(`\0${login.user}\0${login.pass}`).toString('base64')}\r\n`);
    if (!(await reply()).startsWith('235')) throw new Error('smtp auth refused');
    s.write(`MAIL FROM:<sender@example.test>\r\n`);
    await reply();
    s.write(`RCPT TO:<${login.user}>\r\n`);
    await reply();
    s.write('DATA\r\n');
    const go = await reply();
    if (!go.startsWith('354')) {
      outcome = go.startsWith('4') ? 'tempfail' : 'refused';
      return;
    }
    const stuffed = msg.bytes.toString('latin1').replace(/^\./gm, '..');
    s.write(Buffer.from(stuffed + '.\r\n', 'latin1'));
    const done = await reply();
    outcome = done.startsWith('2') ? 'accepted' : done.startsWith('5') ? 'refused' : 'tempfail';
    s.write('QUIT\r\n');
  } finally {
    ctx.ledger.submitted(msg, 'smtp', outcome);
    s?.destroy();
  }
}

// The demo mailbox: what a new user downloads through the shield on first run. Two clean messages and one carrying
// the EICAR anti-virus test file. The messages are written out by hand rather than composed by a library so their
// bytes are the same on every run: the first-run test compares the quarantined original with them byte for byte.
// Pure: no I/O, and the mailbox itself is a plain in-memory list the demo servers share.

/**
 * The EICAR test string, stored reversed and turned around at run time. A committed file that carries the string
 * itself trips virus scanners on every checkout, mail and backup of the code; reversed, it matches nothing.
 */
const EICAR_REVERSED = '*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X';

export function eicarTestString(): string {
  return [...EICAR_REVERSED].reverse().join('');
}

export const DEMO_USER = 'demo';
export const DEMO_PASSWORD = 'demo';
export const DEMO_ADDRESS = 'demo@demo.test';

/** The attachment name of the EICAR message; .txt so the detection is the EICAR signature, not an extension rule. */
export const EICAR_ATTACHMENT_NAME = 'eicar-test-file.txt';

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');

function welcome(): Buffer {
  return crlf([
    'Return-Path: <welcome@demo.test>',
    'From: mailshield demo <welcome@demo.test>',
    `To: Demo User <${DEMO_ADDRESS}>`,
    'Subject: Welcome to the mailshield demo',
    'Date: Mon, 2 Jun 2025 09:00:00 +0000',
    'Message-ID: <welcome.1@demo.test>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Hello,',
    '',
    'this message came from the demo mail server through mailshield, which scanned it',
    'and passed it on unchanged: what you read here is byte for byte what the server sent.',
    '',
    'Message 3 in this mailbox carries the EICAR anti-virus test file. Download it',
    'through the shield and you get a notice instead, while the original waits in the',
    'quarantine (`mailshield quarantine list`).',
    '',
    '-- ',
    'mailshield',
  ]);
}

function dots(): Buffer {
  // Lines that start with a dot, and one that is a lone dot: POP3 and SMTP both have to stuff and unstuff them, so
  // a shield that gets dot transparency wrong shows it here.
  return crlf([
    'From: Alice Example <alice@demo.test>',
    `To: ${DEMO_ADDRESS}`,
    'Subject: Minutes, with a few dots',
    'Date: Mon, 2 Jun 2025 09:05:00 +0000',
    'Message-ID: <minutes.2@demo.test>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    'Minutes of the weekly call.',
    '',
    '.hidden files are not backed up; see below',
    '..and this line starts with two dots',
    '.',
    'The line above is a single dot. All three arrive exactly as written.',
  ]);
}

function infected(): Buffer {
  const boundary = '----=_mailshield_demo_boundary_3';
  const attachment = Buffer.from(eicarTestString(), 'ascii').toString('base64');
  return crlf([
    'From: Mallory <mallory@demo.test>',
    `To: ${DEMO_ADDRESS}`,
    'Subject: Invoice attached',
    'Date: Mon, 2 Jun 2025 09:10:00 +0000',
    'Message-ID: <invoice.3@demo.test>',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    'This is a multi-part message in MIME format.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    'Please find the invoice attached.',
    '',
    '(It is the harmless EICAR anti-virus test file: every scanner detects it on purpose.)',
    '',
    `--${boundary}`,
    `Content-Type: text/plain; name="${EICAR_ATTACHMENT_NAME}"`,
    `Content-Disposition: attachment; filename="${EICAR_ATTACHMENT_NAME}"`,
    'Content-Transfer-Encoding: base64',
    '',
    attachment,
    '',
    `--${boundary}--`,
  ]);
}

export interface DemoMessage {
  /** Unique and stable for the message's life (POP3 UIDL). */
  uid: string;
  bytes: Buffer;
}

/** The three demo messages, in mailbox order; the EICAR one is the third. */
export function demoMessages(): DemoMessage[] {
  return [
    { uid: 'demo-welcome-1', bytes: welcome() },
    { uid: 'demo-minutes-2', bytes: dots() },
    { uid: 'demo-invoice-3', bytes: infected() },
  ];
}

/** 1-based position of the EICAR message in a fresh demo mailbox. */
export const EICAR_MESSAGE_NUMBER = 3;

/**
 * One mailbox shared by every demo server: POP3 sessions take a snapshot when they log in (RFC 1939's maildrop
 * lock, simplified) and remove what they deleted when they QUIT; the SMTP server appends what it receives.
 * It lives in memory only, so a restart of the demo brings the three messages back.
 */
export class DemoMailbox {
  private readonly messages: DemoMessage[];
  private nextUid = 1;

  constructor(messages: DemoMessage[] = demoMessages()) {
    this.messages = [...messages];
  }

  snapshot(): DemoMessage[] {
    return [...this.messages];
  }

  append(bytes: Buffer): DemoMessage {
    const m = { uid: `demo-received-${this.nextUid++}-${bytes.length}`, bytes };
    this.messages.push(m);
    return m;
  }

  remove(uids: Iterable<string>): void {
    const gone = new Set(uids);
    for (let i = this.messages.length - 1; i >= 0; i--) if (gone.has(this.messages[i]!.uid)) this.messages.splice(i, 1);
  }
}

// Writes the committed seed corpora (fuzz/corpus/<target>/): real ClientHellos and server flights captured from
// node:tls on loopback, messages and zips from the test builders, protocol transcripts. Run it again after a format
// change: `node dist/fuzz/make-seeds.js`. The EICAR string is never written: seeds stay clean files.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { CONFIG_TEMPLATE } from '../src/cli/config-template.js';
import { compose, nestedZip, withAttachment, zip } from '../test/fixtures/mime.js';
import { testPki } from '../test/fixtures/pki.js';
import { corpusDir } from './paths.js';

function put(target: string, name: string, data: Buffer | string): void {
  mkdirSync(corpusDir(target), { recursive: true });
  writeFileSync(join(corpusDir(target), name), data);
}

/** One TLS handshake on loopback; returns the bytes each side sent before it finished. */
async function capture(
  opts: tls.ConnectionOptions & { serverMax?: tls.SecureVersion },
): Promise<{ hello: Buffer; flight: Buffer }> {
  const pki = testPki();
  const server = tls.createServer(
    { key: readFileSync(pki.key.rsa), cert: readFileSync(pki.crt.rsa), maxVersion: opts.serverMax },
    (s) => s.end(),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  // A relay in the middle records each direction.
  const fromClient: Buffer[] = [];
  const fromServer: Buffer[] = [];
  const relay = createServer((c: Socket) => {
    const u = connect(port, '127.0.0.1');
    c.on('data', (d: Buffer) => (fromClient.push(d), u.write(d)));
    u.on('data', (d: Buffer) => (fromServer.push(d), c.write(d)));
    c.on('close', () => u.destroy());
    u.on('close', () => c.destroy());
    c.on('error', () => undefined);
    u.on('error', () => undefined);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const rport = (relay.address() as { port: number }).port;
  await new Promise<void>((resolve) => {
    const s = tls.connect({ port: rport, host: '127.0.0.1', rejectUnauthorized: false, ...opts }, () => {
      s.destroy();
      resolve();
    });
    s.on('error', () => resolve());
  });
  relay.close();
  server.close();
  return { hello: fromClient[0] ?? Buffer.alloc(0), flight: Buffer.concat(fromServer) };
}

const t13 = await capture({ servername: 'mail.test', ALPNProtocols: ['imap'] });
const t12 = await capture({ servername: 'mail.test', maxVersion: 'TLSv1.2' });
const t12s = await capture({ serverMax: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' });
put('client-hello', 'tls13-sni-alpn', t13.hello);
put('client-hello', 'tls12-only', t12.hello);
put('handshake-tap', 'tls13-flight', t13.flight);
put('handshake-tap', 'tls12-ecdhe-rsa', t12s.flight);

put('pop3-framer', 'retr', '+OK 120 octets\r\nSubject: x\r\n\r\n..stuffed line\r\nbody\r\n.\r\n+OK next\r\n');
put('pop3-framer', 'commands', 'USER a\r\nPASS b\r\nSTAT\r\nRETR 1\r\nTOP 1 0\r\nSTLS\r\nQUIT\r\n');
put(
  'smtp-framer',
  'submission',
  'EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n',
);
put('smtp-framer', 'pipelined', 'MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n.\r\nRSET\r\nDATA\r\nx\n.\nNOOP\r\n');
put('smtp-reply', 'ehlo', '220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 STARTTLS\r\n354 go\r\n');
put('smtp-reply', 'pop3-capa', '+OK ready\r\n+OK\r\nSTLS\r\nUSER\r\n.\r\n-ERR no\r\n');
put('smtp-reply', 'imap', '* OK ready\r\n* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n');
put('imap-tokenizer', 'append', 'a1 APPEND INBOX (\\Seen) {11}\r\nhello world\r\n');
put(
  'imap-tokenizer',
  'fetch',
  '* 1 FETCH (UID 5 BODY[] {5}\r\nabcde)\r\n* 2 FETCH (BINARY[1] ~{2}\r\n\0\0 FLAGS ())\r\na2 OK\r\n',
);
put('imap-tokenizer', 'nonsync', 'a3 APPEND INBOX {3+}\r\nabc\r\na4 NOOP\r\n');
put(
  'imap-fetch',
  'envelope',
  '* 12 FETCH (UID 7 FLAGS (\\Seen) ENVELOPE ("d" "x UID 9" NIL NIL NIL NIL NIL NIL NIL NIL) BODY[1.2]<0> ',
);
put('imap-fetch', 'quoted', '* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] "Subject: \\"UID 1\\"" UID 44 RFC822.SIZE 100)');
put('clamd-reply', 'ok', 'stream: OK\0');
put('clamd-reply', 'found', 'stream: Eicar-Test-Signature FOUND\0');
put('clamd-reply', 'limit', 'INSTREAM size limit exceeded. ERROR\0');
put('config', 'template', CONFIG_TEMPLATE);
put(
  'config',
  'accounts',
  'accounts:\n  - name: isp-pop\n    protocol: pop3\n    listen: 127.0.0.1:1995\n    clientTls: implicit\n    upstream: pop.example.jp:995\npolicy:\n  exceptions:\n    - host: pop.example.jp\n      allow: [sha1-handshake-signature]\n      until: 2027-06-30\n',
);

const inner = await compose({ subject: 'inner', text: 'nested body' });
put(
  'mime-walk',
  'attachment',
  await withAttachment({ filename: 'report.pdf.exe', content: Buffer.from('MZ not really') }),
);
put(
  'mime-walk',
  'nested-base64',
  await withAttachment({ filename: 'fwd.eml', content: inner, contentType: 'message/rfc822', encoding: 'base64' }),
);
put(
  'mime-walk',
  'html-qp',
  await compose({
    html: '<p>caf\u00e9 = ok</p>',
    attachments: [{ filename: 'a.zip', content: zip([{ name: 'x.txt', content: Buffer.from('x') }]) }],
  }),
);
put(
  'archive',
  'two-entries',
  zip([
    { name: 'a.txt', content: Buffer.from('hello hello hello') },
    { name: 'dir/b.js', content: Buffer.from('x'), method: 'store' },
  ]),
);
put('archive', 'encrypted', zip([{ name: 'secret.doc', content: Buffer.from('abc'), encrypted: true }]));
put('archive', 'nested', nestedZip(2, { name: 'deep.txt', content: Buffer.from('deep') }));
put('archive', 'lying-size', zip([{ name: 'liar.bin', content: Buffer.alloc(2000, 1), declaredSize: 10 }]));
console.log('seeds written');

// A minimal implicit-TLS IMAP server for workload 6 (thousands of idle sessions). Dovecot forks one imap process
// per logged-in session (several MB each, process_limit 1024 by default), so it cannot hold 10,000 sessions on this
// machine; this server can, and keeps the upstream's cost out of the shield's numbers. It knows LOGIN, SELECT,
// IDLE/DONE, NOOP, CAPABILITY and LOGOUT; anything else gets BAD. Run as a child: argv cert key; prints "port N".
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

const CAPS = 'IMAP4rev1 IDLE LITERAL+ AUTH=PLAIN';

function reply(tag: string, verb: string, s: tls.TLSSocket): void {
  switch (verb) {
    case 'LOGIN':
      s.write(`${tag} OK [CAPABILITY ${CAPS}] logged in\r\n`);
      return;
    case 'SELECT':
    case 'EXAMINE':
      s.write(
        '* FLAGS (\\Seen \\Deleted)\r\n* 0 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] ok\r\n* OK [UIDNEXT 1] ok\r\n' +
          `${tag} OK [READ-WRITE] SELECT completed\r\n`,
      );
      return;
    case 'IDLE':
      s.write('+ idling\r\n');
      return;
    case 'NOOP':
      s.write(`${tag} OK NOOP completed\r\n`);
      return;
    case 'CAPABILITY':
      s.write(`* CAPABILITY ${CAPS}\r\n${tag} OK done\r\n`);
      return;
    case 'LOGOUT':
      s.end(`* BYE bye\r\n${tag} OK LOGOUT completed\r\n`);
      return;
    default:
      s.write(`${tag} BAD unknown command\r\n`);
  }
}

const server = tls.createServer({ cert: readFileSync(process.argv[2]!), key: readFileSync(process.argv[3]!) }, (s) => {
  let buf = '';
  let idleTag: string | null = null;
  s.setEncoding('latin1');
  s.on('error', () => undefined);
  s.write(`* OK [CAPABILITY ${CAPS}] fake IMAP ready\r\n`);
  s.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trimEnd();
      buf = buf.slice(nl + 1);
      if (idleTag !== null) {
        if (line.toUpperCase() === 'DONE') {
          s.write(`${idleTag} OK IDLE terminated\r\n`);
          idleTag = null;
        }
        continue;
      }
      const [tag = '*', verb = ''] = line.split(' ');
      if (verb.toUpperCase() === 'IDLE') idleTag = tag;
      reply(tag, verb.toUpperCase(), s);
    }
  });
});
server.maxConnections = 50_000;
server.listen(0, '127.0.0.1', 4096, () => {
  const a = server.address();
  process.stdout.write(`port ${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
// stdin is a pipe from the benchmark: when the benchmark dies, so does this server.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

// The first-run banner: what runs where, the CA, and commands to copy that show the shield at work. Pure text from
// what the demo actually bound. Every command line starts with "$ " so a reader (and the first-run test) can find
// them; the test runs them exactly as printed.
import type { DemoEndpoints, Endpoint } from './config.js';
import { DEMO_ADDRESS, DEMO_PASSWORD, DEMO_USER, EICAR_MESSAGE_NUMBER } from './mailbox.js';
import { DEMO_ISP_HOST, DEMO_MAIL_HOST } from './pki.js';

export interface BannerInput {
  /** How to run mailshield from where the user is: "npx mailshield", or "node /path/to/bin/mailshield.js". */
  cli: string;
  /** The shield's local CA: what mail clients (and curl) trust. */
  shieldCaPath: string;
  /** The demo servers' test CA: what the shield, and a probe, trust for the demo upstreams. */
  demoCaPath: string;
  /** The demo's configuration, written out as YAML. */
  configPath: string;
  /** The shield's listeners. */
  shield: DemoEndpoints;
  /** The demo servers. */
  upstream: DemoEndpoints;
  upstreamPolicy: string;
  /** The dashboard's login URL (token included), or null. */
  dashboardUrl?: string | null;
  /** Why the dashboard is not running, when it is not. */
  dashboardError?: string | null;
}

/** Quotes for a POSIX shell when needed (paths with spaces, mostly). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_/.:@%+=,~-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const at = (e: Endpoint) => `${e.host}:${e.port}`;

export interface DemoCommands {
  /** Downloads the EICAR message through the shield: a notice comes back. */
  curlEicar: string;
  quarantineList: string;
  /** Probes the ISP-like server: the SHA-1 warning under balanced. */
  probeIsp: string;
  /** Sends a message through the SMTP shield into the demo mailbox. */
  curlSend: string;
}

export function demoCommands(b: BannerInput): DemoCommands {
  const q = shellQuote;
  const user = `${DEMO_USER}:${DEMO_PASSWORD}`;
  return {
    curlEicar: `curl --cacert ${q(b.shieldCaPath)} --user ${user} pop3s://${at(b.shield.pop3)}/${EICAR_MESSAGE_NUMBER}`,
    quarantineList: `${b.cli} quarantine list`,
    probeIsp: `${b.cli} probe ${at(b.upstream.ispPop3)} --servername ${DEMO_ISP_HOST} --ca ${q(b.demoCaPath)}`,
    curlSend:
      `printf 'Subject: hello\\r\\n\\r\\nSent through mailshield.\\r\\n' | ` +
      `curl --cacert ${q(b.shieldCaPath)} --ssl-reqd --user ${user} --mail-from ${DEMO_ADDRESS} ` +
      `--mail-rcpt ${DEMO_ADDRESS} -T - smtp://${at(b.shield.smtp)}`,
  };
}

export function renderBanner(b: BannerInput): string {
  const c = demoCommands(b);
  const row = (cells: string[], widths: number[]) =>
    cells.map((s, i) => (i === cells.length - 1 ? s : s.padEnd(widths[i]!))).join('  ');
  const shieldRows = [
    ['pop3s', at(b.shield.pop3), `→ ${DEMO_MAIL_HOST} (${at(b.upstream.pop3)})`],
    ['pop3s', at(b.shield.ispPop3), `→ ${DEMO_ISP_HOST} (${at(b.upstream.ispPop3)}), accepted with a SHA-1 warning`],
    ['smtp', at(b.shield.smtp), `→ ${DEMO_MAIL_HOST} (${at(b.upstream.smtp)}), STARTTLS on both legs`],
  ];
  const w = [5, Math.max(...shieldRows.map((r) => r[1]!.length))];
  return [
    '',
    'mailshield is running on its built-in demo: no configuration needed, nothing leaves this machine.',
    '',
    `  Demo mail server ${DEMO_MAIL_HOST}: POP3S and SMTP submission, user ${DEMO_USER}, password ${DEMO_PASSWORD}.`,
    `  Its mailbox holds two clean messages and, as message ${EICAR_MESSAGE_NUMBER}, the EICAR anti-virus test file.`,
    `  ISP-like server ${DEMO_ISP_HOST}: the same mailbox over TLS 1.2, key exchange signed with RSA+SHA1.`,
    `  mailshield in front of them (upstream policy: ${b.upstreamPolicy}):`,
    ...shieldRows.map((r) => '    ' + row(r, w)),
    '',
    `  mailshield's CA (trust it in your mail client): ${b.shieldCaPath}`,
    `  The demo servers' test CA:                      ${b.demoCaPath}`,
    '',
    ...(b.dashboardUrl
      ? [
          'Dashboard (what the shield did and why; the link carries your access token, keep it private):',
          `    ${b.dashboardUrl}`,
          '',
        ]
      : b.dashboardError
        ? [`Dashboard not running: ${b.dashboardError}`, '']
        : []),
    'Try it, in another terminal from this folder:',
    '',
    `  Download message ${EICAR_MESSAGE_NUMBER} through the shield; a notice comes back in place of the virus:`,
    `    $ ${c.curlEicar}`,
    '  The original waits in the quarantine:',
    `    $ ${c.quarantineList}`,
    `  See what the ISP-like server does and how each policy judges it (look for SHA1):`,
    `    $ ${c.probeIsp}`,
    '  Send a message through the SMTP shield; it lands in the demo mailbox as the next message:',
    `    $ ${c.curlSend}`,
    '',
    'Your own mail account: run',
    `    ${b.cli} init`,
    '  to write a commented ./mailshield.yaml with one example account per protocol, edit it, then start again:',
    '  with a mailshield.yaml present, `npm start` runs it and none of this demo.',
    `  The demo's own configuration, for reference: ${b.configPath}`,
    '',
    'Stop with Ctrl-C.',
    '',
  ].join('\n');
}

// The SMTP dialect of the upstream setup (src/core/upstream-setup.ts runs it, with the timer). Implicit TLS: the 220
// greeting is all. upstreamTls: starttls: greeting, our own EHLO, STARTTLS required in its answer, STARTTLS, 220, the
// handshake. Only then is the client greeted, with the server's own greeting, so nothing the client says (EHLO, AUTH)
// travels in clear. Everything learned before TLS is forgotten (RFC 3207): the client's EHLO is relayed fresh.
import { ShieldError } from '../../core/errors.js';
import type { SetupDialect, SetupStep } from '../../core/upstream-setup.js';
import type { Reply } from './framer.js';
import { offersStartTls } from './replies.js';

/** The name we EHLO the server with before its STARTTLS; the client's own EHLO follows once TLS is up. */
export const SHIELD_EHLO_NAME = 'mailshield.localhost';

type Stage = 'greeting' | 'ehlo' | 'starttls' | 'tls' | 'done';

export class SmtpUpstreamSetup implements SetupDialect<Reply> {
  private stage: Stage = 'greeting';
  private greeting: Buffer | null = null;

  constructor(private readonly starttls: boolean) {}

  get waitingFor(): string {
    const what: Record<Stage, string> = {
      greeting: 'greeting',
      ehlo: 'reply to EHLO',
      starttls: 'reply to STARTTLS',
      tls: 'TLS handshake',
      done: 'greeting',
    };
    return what[this.stage];
  }

  unit(r: Reply): SetupStep {
    switch (this.stage) {
      case 'greeting':
        // Not 220: the server refuses service; its own words go to the client.
        if (r.code !== 220) return this.end({ kind: 'refused' });
        if (!this.starttls) return this.end({ kind: 'done', greeting: r.raw, rewrite: false });
        this.greeting = r.raw;
        this.stage = 'ehlo';
        return { kind: 'send', line: `EHLO ${SHIELD_EHLO_NAME}\r\n` };
      case 'ehlo':
        if (r.code === 250 && offersStartTls(r.lines)) {
          this.stage = 'starttls';
          return { kind: 'send', line: 'STARTTLS\r\n' };
        }
        return this.end({
          kind: 'fail',
          error: new ShieldError(
            'MS_ERR_UPSTREAM_STARTTLS_MISSING',
            'the mail server did not offer STARTTLS, so the connection could be downgraded; mailshield never falls ' +
              'back to plaintext',
            {
              offered: `${r.code} ${r.lines.slice(1).join(', ') || r.lines.join(' ')}`.trim(),
              required: 'STARTTLS in the EHLO reply',
              fix: 'check the server name and port, or set upstreamTls: implicit for an SMTPS (465) server',
            },
          ),
        });
      case 'starttls':
        if (r.code === 220) {
          this.stage = 'tls';
          return { kind: 'start-tls' };
        }
        return this.end({
          kind: 'fail',
          error: new ShieldError('MS_ERR_UPSTREAM_STARTTLS_REFUSED', 'the mail server refused STARTTLS', {
            offered: `${r.code} ${r.lines.join(' ')}`,
            required: '220 to STARTTLS',
            fix: 'mailshield never falls back to plaintext; ask the provider or use its SMTPS port with upstreamTls: implicit',
          }),
        });
      default:
        return { kind: 'wait' };
    }
  }

  tlsReady(): SetupStep {
    if (this.stage !== 'tls') return { kind: 'wait' };
    return this.end({ kind: 'done', greeting: this.greeting ?? Buffer.from('220 ready\r\n'), rewrite: false });
  }

  private end(step: SetupStep): SetupStep {
    this.stage = 'done';
    return step;
  }
}

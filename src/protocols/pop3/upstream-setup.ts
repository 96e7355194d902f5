// The POP3 dialect of the upstream setup (src/core/upstream-setup.ts runs it, with the timer). Implicit TLS: the
// greeting is all. upstreamTls: starttls: greeting, CAPA, STLS, the handshake; the client sees nothing until then and
// then gets the server's original greeting (its APOP timestamp survives). Pure: the server's lines in, one step out.
import { ShieldError } from '../../core/errors.js';
import { type SetupDialect, type SetupStep } from '../../core/upstream-setup.js';
import { statusOf, type Line } from './framer.js';

type Stage = 'greeting' | 'capa' | 'capa-body' | 'stls' | 'tls' | 'done';

const STLS_ONLY = 'STLS (upstreamTls: starttls); mailshield never falls back to plaintext';
const USE_IMPLICIT =
  'if the server offers implicit TLS (usually port 995), set upstream to that port and upstreamTls: implicit';

/** A body line keyword of CAPA (RFC 2449), upper-cased. */
const capaKeyword = (l: string) => (l.split(' ')[0] ?? '').toUpperCase();

export class Pop3UpstreamSetup implements SetupDialect<Line> {
  private stage: Stage = 'greeting';
  private greeting: Buffer | null = null;
  private hasStls = false;

  constructor(
    private readonly starttls: boolean,
    private readonly upstream: string,
  ) {}

  get waitingFor(): string {
    const what: Record<Stage, string> = {
      greeting: 'greeting',
      capa: 'reply to CAPA',
      'capa-body': 'reply to CAPA',
      stls: 'reply to STLS',
      tls: 'TLS handshake',
      done: 'greeting',
    };
    return what[this.stage];
  }

  unit(line: Line): SetupStep {
    const st = statusOf(line.text);
    switch (this.stage) {
      case 'greeting':
        // Not +OK: the server turned us away (or is not POP3); the client sees its words.
        if (st !== 'ok') return this.end({ kind: 'refused' });
        if (!this.starttls) return this.end({ kind: 'done', greeting: line.bytes, rewrite: false });
        this.greeting = line.bytes;
        this.stage = 'capa';
        return { kind: 'send', line: 'CAPA\r\n' };
      case 'capa':
        if (st === 'ok') {
          this.stage = 'capa-body';
          return { kind: 'wait' };
        }
        // No CAPA (RFC 1939-only server): STLS may still work, and a refusal is explained below.
        return this.sendStls();
      case 'capa-body':
        if (line.text !== '.') {
          if (capaKeyword(line.text) === 'STLS') this.hasStls = true;
          return { kind: 'wait' };
        }
        if (this.hasStls) return this.sendStls();
        return this.end({
          kind: 'fail',
          error: new ShieldError(
            'MS_ERR_UPSTREAM_STARTTLS_MISSING',
            `the mail server ${this.upstream} does not offer STLS`,
            {
              offered: 'CAPA without STLS',
              required: STLS_ONLY,
              fix: USE_IMPLICIT,
            },
          ),
        });
      case 'stls':
        if (st === 'ok') {
          this.stage = 'tls';
          return { kind: 'start-tls' };
        }
        return this.end({
          kind: 'fail',
          error: new ShieldError('MS_ERR_UPSTREAM_STARTTLS_REFUSED', `the mail server ${this.upstream} refused STLS`, {
            offered: JSON.stringify(line.text.slice(0, 200)),
            required: STLS_ONLY,
            fix: USE_IMPLICIT,
          }),
        });
      default:
        return { kind: 'wait' };
    }
  }

  tlsReady(): SetupStep {
    if (this.stage !== 'tls') return { kind: 'wait' };
    // Everything learned in plaintext is forgotten; the client now sees the original greeting.
    return this.end({ kind: 'done', greeting: this.greeting ?? Buffer.from('+OK\r\n'), rewrite: false });
  }

  private sendStls(): SetupStep {
    this.stage = 'stls';
    return { kind: 'send', line: 'STLS\r\n' };
  }

  private end(step: SetupStep): SetupStep {
    this.stage = 'done';
    return step;
  }
}

// The IMAP dialect of the upstream setup (src/core/upstream-setup.ts runs it, with the timer): the server's greeting,
// then for upstreamTls: starttls its CAPABILITY, STARTTLS, and CAPABILITY again over TLS (everything learned before
// TLS could have come from an attacker). Pure: the server's lines in, one step out.
import { ShieldError } from '../../core/errors.js';
import { printable, type SetupDialect, type SetupStep } from '../../core/upstream-setup.js';
import { capabilitiesIn, type ServerCapabilities } from './capabilities.js';

export type { SetupStep };

type Stage = 'greeting' | 'capability' | 'starttls' | 'tls' | 'capability-tls' | 'done';

const USE_IMPLICIT = 'use upstreamTls: implicit (port 993) if the server offers it';

export class UpstreamSetup implements SetupDialect<string> {
  private stage: Stage = 'greeting';
  /** Tag of the shield's own command in flight. */
  private tag = '';
  private greetingText = 'IMAP server ready';

  constructor(
    private readonly starttls: boolean,
    private readonly caps: ServerCapabilities,
    private readonly newTag: () => string,
  ) {}

  get waitingFor(): string {
    switch (this.stage) {
      case 'greeting':
        return 'greeting';
      case 'starttls':
        return 'reply to STARTTLS';
      case 'tls':
        return 'TLS handshake';
      default:
        return 'reply to CAPABILITY';
    }
  }

  unit(line: string): SetupStep {
    switch (this.stage) {
      case 'greeting':
        return this.onGreeting(line);
      case 'capability':
      case 'capability-tls':
        return this.onCapability(line);
      case 'starttls':
        return this.onStartTlsReply(line);
      default:
        return { kind: 'wait' };
    }
  }

  /** The upstream handshake is done: ask for the capabilities again. */
  tlsReady(): SetupStep {
    if (this.stage !== 'tls') return { kind: 'wait' };
    this.caps.set([]);
    return this.ask('CAPABILITY', 'capability-tls');
  }

  private onGreeting(line: string): SetupStep {
    if (/^\* BYE/i.test(line)) {
      this.stage = 'done';
      return { kind: 'refused' };
    }
    if (/^\* PREAUTH/i.test(line) && this.starttls) {
      return this.fail(
        new ShieldError(
          'MS_ERR_UPSTREAM_PREAUTH_DOWNGRADE',
          'The IMAP server greeted with PREAUTH on a STARTTLS connection, which would skip TLS',
          { offered: 'PREAUTH before STARTTLS', required: 'STARTTLS before any session', fix: USE_IMPLICIT },
        ),
      );
    }
    if (!/^\* (OK|PREAUTH)/i.test(line)) {
      return this.fail(
        new ShieldError('MS_ERR_UPSTREAM_PROTOCOL', 'The mail server did not greet as an IMAP server', {
          offered: printable(line),
        }),
      );
    }
    if (!this.starttls) {
      this.stage = 'done';
      return done(line, true);
    }
    this.greetingText = line.replace(/^\* OK\s*(\[[^\]]*\]\s*)?/i, '').trim() || this.greetingText;
    const caps = capabilitiesIn(line);
    return caps ? this.afterCapabilities(caps) : this.ask('CAPABILITY', 'capability');
  }

  private onCapability(line: string): SetupStep {
    const caps = capabilitiesIn(line);
    if (caps && line.startsWith('*')) this.caps.set(caps);
    if (!line.startsWith(`${this.tag} `)) return { kind: 'wait' };
    if (this.stage === 'capability') return this.afterCapabilities(caps ?? this.caps.list);
    this.stage = 'done';
    if (this.caps.size === 0) return done(`* OK ${this.greetingText}\r\n`, false);
    return done(`* OK [CAPABILITY ${this.caps.list.join(' ')}] ${this.greetingText}\r\n`, true);
  }

  private afterCapabilities(caps: readonly string[]): SetupStep {
    if (!caps.some((c) => c.toUpperCase() === 'STARTTLS')) {
      return this.fail(
        new ShieldError('MS_ERR_UPSTREAM_STARTTLS_MISSING', 'The mail server did not offer STARTTLS', {
          offered: `CAPABILITY ${caps.join(' ')}`.slice(0, 300),
          required: 'STARTTLS',
          fix: USE_IMPLICIT,
        }),
      );
    }
    return this.ask('STARTTLS', 'starttls');
  }

  private onStartTlsReply(line: string): SetupStep {
    if (!line.startsWith(`${this.tag} `)) return { kind: 'wait' };
    if (!/^\S+ OK/i.test(line)) {
      return this.fail(
        new ShieldError('MS_ERR_UPSTREAM_STARTTLS_REFUSED', 'The mail server refused STARTTLS', {
          offered: printable(line.slice(this.tag.length + 1)),
          required: 'STARTTLS',
          fix: USE_IMPLICIT,
        }),
      );
    }
    this.stage = 'tls';
    return { kind: 'start-tls' };
  }

  private ask(command: string, next: Stage): SetupStep {
    this.tag = this.newTag();
    this.stage = next;
    return { kind: 'send', line: `${this.tag} ${command}\r\n` };
  }

  private fail(error: ShieldError): SetupStep {
    this.stage = 'done';
    return { kind: 'fail', error };
  }
}

const done = (greeting: string, rewrite: boolean): SetupStep => ({
  kind: 'done',
  greeting: Buffer.from(greeting, 'latin1'),
  rewrite,
});

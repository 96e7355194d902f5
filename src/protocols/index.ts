// Maps an account's protocol to its session. The driver knows nothing else about protocols.
import type { AccountConfig } from '../core/config.js';
import type { Session, SessionOptions } from '../core/session.js';
import { createImapSession } from './imap/session.js';
import { createPop3Session } from './pop3/session.js';
import { createSmtpSession } from './smtp/session.js';

export function createSessionFor(protocol: AccountConfig['protocol'], opts: SessionOptions): Session {
  switch (protocol) {
    case 'pop3':
      return createPop3Session(opts);
    case 'imap':
      return createImapSession(opts);
    case 'smtp':
      return createSmtpSession(opts);
  }
}

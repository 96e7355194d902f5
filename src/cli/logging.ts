// pino, pretty on a TTY and JSON otherwise. Credentials never reach a log line: sessions log command verbs only,
// and redaction is a second fence for anything that slips into fields.
import { pino } from 'pino';
import type { Logger } from '../core/logger.js';

export function createLogger(opts: { level: string; format: 'auto' | 'pretty' | 'json'; dest?: number }): Logger {
  const pretty = opts.format === 'pretty' || (opts.format === 'auto' && process.stdout.isTTY === true);
  const redact = {
    paths: ['password', 'pass', 'auth', 'authorization', 'credentials', 'token', '*.password'],
    censor: '[redacted]',
  };
  if (pretty) {
    return pino({
      level: opts.level,
      redact,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' },
      },
    });
  }
  return pino({ level: opts.level, redact }, pino.destination({ dest: opts.dest ?? 1, sync: false }));
}

// The daemon's side of exception expiry: checks at start and then hourly, so "once a day" holds however long the
// shield runs; ExpiryWarnings (src/tls) decides what is due.
import type { PolicyException } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { ExpiryWarnings } from '../tls/exception-expiry.js';

const CHECK_EVERY_MS = 60 * 60 * 1000;

/** Starts the checks; returns the function that stops them. */
export function watchExceptionExpiry(exceptions: readonly PolicyException[], log: Logger, now: () => Date): () => void {
  if (exceptions.length === 0) return () => undefined;
  const warnings = new ExpiryWarnings();
  const check = (): void => {
    for (const w of warnings.due(exceptions, now()))
      log.warn({ exception: { host: w.host, allow: w.allow, until: w.until }, daysLeft: w.daysLeft }, w.message);
  };
  check();
  const timer = setInterval(check, CHECK_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}

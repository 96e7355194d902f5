// Exceptions are meant to expire: the warning that one is about to comes early enough to get the server fixed, and
// once a day, so it is seen without flooding the log. Pure: the caller hands in the date and logs the result.
import type { PolicyException } from '../core/config.js';

/** Warnings start this many days before `until` (inclusive: the last day an exception applies is `until`). */
export const EXPIRY_WARNING_DAYS = 14;

const DAY = 86_400_000;
const isoDay = (d: Date): string => d.toISOString().slice(0, 10);

export interface ExpiryWarning {
  host: string;
  allow: string[];
  until: string;
  /** 0: today is the last day it applies. */
  daysLeft: number;
  message: string;
}

/** Remembers which day each exception was last warned about, so each warns at most once per (UTC) day. */
export class ExpiryWarnings {
  private readonly warnedOn = new Map<string, string>();

  /** The warnings due at `now`; each exception at most once per day, from 14 days before it ends until it ends. */
  due(exceptions: readonly PolicyException[], now: Date): ExpiryWarning[] {
    const today = isoDay(now);
    const out: ExpiryWarning[] = [];
    for (const e of exceptions) {
      const daysLeft = Math.round((Date.parse(`${e.until}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / DAY);
      // After `until` the exception no longer applies; every connection it would have admitted says so already.
      if (daysLeft < 0 || daysLeft > EXPIRY_WARNING_DAYS) continue;
      const key = JSON.stringify([e.host, e.allow, e.until]);
      if (this.warnedOn.get(key) === today) continue;
      this.warnedOn.set(key, today);
      const entry = `{host: ${e.host}, allow: [${e.allow.join(', ')}], until: ${e.until}}`;
      const when =
        daysLeft === 0 ? 'today is its last day' : `it expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`;
      out.push({
        host: e.host,
        allow: [...e.allow],
        until: e.until,
        daysLeft,
        message:
          `policy exception ${entry}: ${when}; after that the policy applies to ${e.host} in full. ` +
          `Ask the server operator to fix it, or extend until (mailshield policy report shows how often it is used)`,
      });
    }
    return out;
  }
}

// The Policy page's data: the profiles in force on each leg (per account, since `auto` depends on the listener),
// and every exception with the days it has left. Pure.
import type { Config } from '../core/config.js';
import { effectiveClientProfile } from '../tls/client-policy.js';
import { UPSTREAM_PROFILES } from '../tls/profiles.js';
import { EXCEPTION_WARN_DAYS } from '../probe/doctor.js';

export interface PolicyView {
  client: { policy: string; accounts: { account: string; listen: string; profile: string; meaning: string }[] };
  upstream: { policy: string; meaning: string };
  exceptions: {
    host: string;
    allow: string[];
    until: string;
    reason: string | null;
    daysLeft: number;
    /** Expires within EXCEPTION_WARN_DAYS (or has expired): shown highlighted. */
    soon: boolean;
    expired: boolean;
  }[];
  warnDays: number;
}

const DAY = 86_400_000;

export function policyView(cfg: Config, now: Date): PolicyView {
  const today = Date.parse(now.toISOString().slice(0, 10) + 'T00:00:00Z');
  return {
    client: {
      policy: cfg.policy.client,
      accounts: cfg.accounts
        .filter((a) => a.clientTls !== 'none')
        .map((a) => {
          const p = effectiveClientProfile(cfg.policy.client, a.listen);
          return { account: a.name, listen: a.listen, profile: p.name, meaning: p.meaning };
        }),
    },
    upstream: { policy: cfg.policy.upstream, meaning: UPSTREAM_PROFILES[cfg.policy.upstream].meaning },
    exceptions: cfg.policy.exceptions
      .map((e) => {
        const daysLeft = Math.round((Date.parse(`${e.until}T00:00:00Z`) - today) / DAY);
        return {
          host: e.host,
          allow: [...e.allow],
          until: e.until,
          reason: e.reason ?? null,
          daysLeft,
          soon: daysLeft <= EXCEPTION_WARN_DAYS,
          expired: daysLeft < 0,
        };
      })
      .sort((a, b) => a.daysLeft - b.daysLeft),
    warnDays: EXCEPTION_WARN_DAYS,
  };
}

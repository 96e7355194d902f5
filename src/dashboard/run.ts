// Composition: the shield, then its dashboard. `mailshield start` and the demo call this; startShield alone (tests,
// the benchmark) runs no dashboard. A dashboard that cannot start is logged and reported, and mail keeps flowing:
// the admin UI is never a reason to stop protecting mail.
import type { LoadedConfig } from '../core/loaded-config.js';
import { splitHostPort } from '../core/hosts.js';
import { asShieldError, isShieldError, type ShieldError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { startShield, type ShieldHandle, type StartOptions } from '../io/server.js';
import { startDashboard, type DashboardHandle } from './server.js';

export interface MailshieldHandle {
  shield: ShieldHandle;
  dashboard: DashboardHandle | null;
  /** Why the dashboard is not running although enabled. */
  dashboardError: ShieldError | null;
  stop(): Promise<void>;
}

export interface RunOptions extends StartOptions {
  log: Logger;
  /** When dashboard.listen's port is taken, take any free port on the same address (the demo). */
  dashboardAnyPort?: boolean;
}

export async function startDashboardFor(
  shield: ShieldHandle,
  loaded: LoadedConfig,
  opts: RunOptions,
): Promise<{ dashboard: DashboardHandle | null; dashboardError: ShieldError | null }> {
  if (!loaded.config.dashboard.enabled) return { dashboard: null, dashboardError: null };
  const base = { shield, loaded, log: opts.log, now: opts.now };
  try {
    return { dashboard: await startDashboard(base), dashboardError: null };
  } catch (first) {
    let e = first;
    if (opts.dashboardAnyPort && isShieldError(e) && e.code === 'MS_ERR_LISTEN_IN_USE') {
      const { host } = splitHostPort(loaded.config.dashboard.listen);
      const listen = host.includes(':') ? `[${host}]:0` : `${host}:0`;
      try {
        return { dashboard: await startDashboard({ ...base, listen }), dashboardError: null };
      } catch (e2) {
        e = e2;
      }
    }
    const err = asShieldError(e);
    opts.log.error({ code: err.code }, `dashboard not started: ${err.message}`);
    return { dashboard: null, dashboardError: err };
  }
}

export async function startMailshield(loaded: LoadedConfig, opts: RunOptions): Promise<MailshieldHandle> {
  const shield = await startShield(loaded, opts);
  const { dashboard, dashboardError } = await startDashboardFor(shield, loaded, opts);
  let stopping: Promise<void> | null = null;
  return {
    shield,
    dashboard,
    dashboardError,
    stop: () =>
      (stopping ??= (async () => {
        await dashboard?.close();
        await shield.stop();
      })()),
  };
}

// The demo's composition root: demo PKI, demo servers, then an ordinary shield in front of them, and the banner.
// `mailshield start` calls it when there is no configuration file; nothing here runs when there is one.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { LoadedConfig } from '../core/loaded-config.js';
import { isShieldError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { pickPort, startDemoServers, type DemoServers } from './servers.js';
import { startShield, type ShieldHandle } from '../io/server.js';
import { startDashboardFor } from '../dashboard/run.js';
import type { DashboardHandle } from '../dashboard/server.js';
import { renderBanner, type BannerInput } from './banner.js';
import {
  DEMO_ACCOUNTS,
  DEMO_PORTS,
  demoConfig,
  demoConfigYaml,
  type DemoEndpoints,
  type DemoPortSet,
} from './config.js';
import { DemoMailbox } from './mailbox.js';
import { loadOrCreateDemoPki } from './pki.js';

export const DEMO_CONFIG_FILE = 'mailshield.demo.yaml';

export interface DemoOptions {
  /** The dataDir the shield uses (the default ./.mailshield); the demo keeps its files in its demo/ folder. */
  dataDir: string;
  log: Logger;
  /** How the user runs mailshield, for the banner's commands. */
  cli: string;
  now?: () => Date;
  /** Preferred ports; tests pass zeros. */
  ports?: { shield: DemoPortSet; upstream: DemoPortSet };
}

export interface DemoHandle {
  shield: ShieldHandle;
  /** Null when dashboard.enabled is off or it could not start (the banner says why). */
  dashboard: DashboardHandle | null;
  servers: DemoServers;
  banner: string;
  bannerInput: BannerInput;
  configPath: string;
  /** Stops the shield (sessions finish first), then the demo servers. */
  stop(): Promise<void>;
}

/** Three distinct ports, each the preferred one when free. */
async function pickPorts(preferred: DemoPortSet): Promise<DemoPortSet> {
  const taken = new Set<number>();
  const one = async (p: number) => {
    for (let i = 0; i < 5; i++) {
      const got = await pickPort(taken.has(p) ? 0 : p);
      if (!taken.has(got)) {
        taken.add(got);
        return got;
      }
    }
    throw new Error('could not find a free loopback port for the demo');
  };
  return { pop3: await one(preferred.pop3), ispPop3: await one(preferred.ispPop3), smtp: await one(preferred.smtp) };
}

export async function startDemo(o: DemoOptions): Promise<DemoHandle> {
  const now = o.now ?? (() => new Date());
  const dataDir = resolve(o.dataDir);
  const demoDir = join(dataDir, 'demo');
  const ports = o.ports ?? DEMO_PORTS;
  const pki = await loadOrCreateDemoPki(demoDir, now());
  if (pki.created) o.log.info({ dir: demoDir }, 'made the demo test CA and server certificates');
  const servers = await startDemoServers({
    mailbox: new DemoMailbox(),
    mail: pki.mail,
    isp: pki.isp,
    ports: ports.upstream,
    log: o.log,
  });
  const upstream: DemoPortSet = { pop3: servers.pop3.port, ispPop3: servers.ispPop3.port, smtp: servers.smtp.port };

  const start = async (preferred: DemoPortSet) => {
    const listen = await pickPorts(preferred);
    const input = { dataDir, demoCaPath: pki.caPath, listen, upstream };
    const loaded: LoadedConfig = {
      config: demoConfig(input),
      file: null,
      dataDir,
      resolvePath: (p) => resolve(dataDir, p),
    };
    return { input, loaded, shield: await startShield(loaded, { log: o.log, now }) };
  };
  let started;
  try {
    try {
      started = await start(ports.shield);
    } catch (e) {
      // Another program took a port between the check and the bind: once more, on ports the system picks.
      if (!(isShieldError(e) && e.code === 'MS_ERR_LISTEN_IN_USE')) throw e;
      started = await start({ pop3: 0, ispPop3: 0, smtp: 0 });
    }
  } catch (e) {
    await servers.close();
    throw e;
  }
  const { shield, input } = started;
  // 8025 may be taken (a second demo, another program): any free loopback port will do for a demo.
  const { dashboard, dashboardError } = await startDashboardFor(shield, started.loaded, {
    log: o.log,
    now,
    dashboardAnyPort: true,
  });

  const configPath = join(demoDir, DEMO_CONFIG_FILE);
  await writeFile(configPath, demoConfigYaml(input), { mode: 0o644 });

  const endpoint = (account: string) => {
    const l = shield.listeners.find((x) => x.account === account);
    if (!l) throw new Error(`demo account ${account} has no listener`);
    return { host: l.host, port: l.port };
  };
  const shieldEndpoints: DemoEndpoints = {
    pop3: endpoint(DEMO_ACCOUNTS.pop3),
    ispPop3: endpoint(DEMO_ACCOUNTS.ispPop3),
    smtp: endpoint(DEMO_ACCOUNTS.smtp),
  };
  const bannerInput: BannerInput = {
    cli: o.cli,
    shieldCaPath: shield.ca.certPath,
    demoCaPath: pki.caPath,
    configPath,
    shield: shieldEndpoints,
    upstream: { pop3: servers.pop3, ispPop3: servers.ispPop3, smtp: servers.smtp },
    upstreamPolicy: demoConfig(input).policy.upstream,
    dashboardUrl: dashboard?.url ?? null,
    dashboardError: dashboardError ? `${dashboardError.message} (${dashboardError.code})` : null,
  };

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      await dashboard?.close();
      await shield.stop();
      await servers.close();
    })());
  return { shield, dashboard, servers, banner: renderBanner(bannerInput), bannerInput, configPath, stop };
}

// The demo's configuration: three shield accounts in front of the demo servers, under the default policy. It is an
// ordinary Config, validated by the same schema as a user's file, and written out as YAML so a user can see what a
// working mailshield.yaml looks like. Pure.
import { stringify } from 'yaml';
import { validateConfig, type Config } from '../core/config.js';
import { DEMO_ISP_HOST, DEMO_MAIL_HOST } from './pki.js';

/**
 * Friendly fixed loopback ports, easy to type and remember: the shield's end in the 11xxx range (11995 like 995),
 * the demo servers' in the 21xxx range. A port already taken falls back to one the system picks.
 */
export const DEMO_PORTS = {
  shield: { pop3: 11995, ispPop3: 11996, smtp: 11587 },
  upstream: { pop3: 21995, ispPop3: 21996, smtp: 21587 },
} as const;

export type DemoPortSet = { pop3: number; ispPop3: number; smtp: number };

export interface Endpoint {
  host: string;
  port: number;
}

/** Where each demo piece listens: the three demo servers, or the shield's three accounts in front of them. */
export interface DemoEndpoints {
  pop3: Endpoint;
  ispPop3: Endpoint;
  smtp: Endpoint;
}

/** Short, because the user stops the demo with Ctrl-C and expects it to go at once. */
const DEMO_SHUTDOWN_MS = 2000;

export const DEMO_ACCOUNTS = { pop3: 'demo-pop3', ispPop3: 'isp-pop3', smtp: 'demo-smtp' } as const;

export interface DemoConfigInput {
  /** Absolute. */
  dataDir: string;
  /** Absolute path of the demo CA certificate. */
  demoCaPath: string;
  listen: DemoPortSet;
  upstream: DemoPortSet;
}

/** The raw document: only what differs from the defaults, so the YAML reads like a hand-written file. */
export function demoConfigDocument(i: DemoConfigInput): Record<string, unknown> {
  const lo = (port: number) => `127.0.0.1:${port}`;
  return {
    dataDir: i.dataDir,
    shutdownTimeoutMs: DEMO_SHUTDOWN_MS,
    accounts: [
      {
        name: DEMO_ACCOUNTS.pop3,
        protocol: 'pop3',
        listen: lo(i.listen.pop3),
        clientTls: 'implicit',
        upstream: lo(i.upstream.pop3),
        upstreamServername: DEMO_MAIL_HOST,
        upstreamTls: 'implicit',
        upstreamCa: i.demoCaPath,
      },
      {
        name: DEMO_ACCOUNTS.ispPop3,
        protocol: 'pop3',
        listen: lo(i.listen.ispPop3),
        clientTls: 'implicit',
        upstream: lo(i.upstream.ispPop3),
        upstreamServername: DEMO_ISP_HOST,
        upstreamTls: 'implicit',
        upstreamCa: i.demoCaPath,
      },
      {
        name: DEMO_ACCOUNTS.smtp,
        protocol: 'smtp',
        listen: lo(i.listen.smtp),
        clientTls: 'starttls',
        upstream: lo(i.upstream.smtp),
        upstreamServername: DEMO_MAIL_HOST,
        upstreamTls: 'starttls',
        upstreamCa: i.demoCaPath,
      },
    ],
  };
}

export function demoConfig(i: DemoConfigInput): Config {
  return validateConfig(demoConfigDocument(i), '(embedded demo)');
}

/** The demo's configuration as a commented YAML file. */
export function demoConfigYaml(i: DemoConfigInput): string {
  return (
    [
      '# What `npm start` runs when there is no mailshield.yaml: the embedded demo, written out for reference.',
      '# The demo servers it points at run only while the demo does; for your own mail account, run',
      '# `mailshield init` to write a commented ./mailshield.yaml and edit that instead.',
      '# Every setting not listed here has its default (policy: balanced upstream, auto client; builtin scanner).',
      '',
    ].join('\n') + stringify(demoConfigDocument(i))
  );
}

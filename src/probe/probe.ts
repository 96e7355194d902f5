// `mailshield probe` as a function: the main connection, the trial handshakes, then the pure assembly. The CLI and
// doctor both call runProbe(); neither opens a socket itself.
import { asShieldError } from '../core/errors.js';
import { mainConnection, trialHandshake, versionTrials } from '../io/probe-tls.js';
import type { UpstreamTarget } from '../io/upstream.js';
import { OFFERED_SIGALGS } from '../tls/profiles.js';
import type { MailProtocol } from '../protocols/mail-dialog.js';
import { assembleProbe, type ProbeResult } from './result.js';

/** The upstream target (`account` labels messages; doctor passes the account name), plus what to ask it. */
export interface ProbeRequest extends UpstreamTarget {
  mode: 'implicit' | 'starttls';
  protocol: MailProtocol | null;
  /** How long to wait for a greeting on a port of unknown protocol. */
  greetingTimeoutMs: number;
  /** Run the trial handshakes (versions, without SHA-1). Doctor skips them. */
  trials: boolean;
  /** Talk the mail protocol over TLS (greeting, capabilities). */
  talkAfterTls: boolean;
}

/** The handshake signature schemes mailshield offers, minus SHA-1: what a SHA-1-free client would offer. */
export const SIGALGS_WITHOUT_SHA1 = OFFERED_SIGALGS.filter((s) => !/sha1$/i.test(s)).join(':');

export async function runProbe(r: ProbeRequest): Promise<ProbeResult> {
  // The handshake is made permissively (legacy's offer) and judged afterwards per profile, so one set of facts
  // answers for every profile.
  const t: UpstreamTarget = {
    account: r.account,
    host: r.host,
    port: r.port,
    servername: r.servername,
    extraCa: r.extraCa,
    pin: r.pin,
    policy: 'legacy',
    exceptions: r.exceptions,
    now: r.now,
    timeoutMs: r.timeoutMs,
  };
  const starttls = r.mode === 'starttls' ? (r.protocol ?? 'smtp') : null;
  let main = null;
  let connectError: string | null = null;
  try {
    main = await mainConnection(t, {
      mode: r.mode,
      protocol: r.protocol,
      greetingTimeoutMs: r.greetingTimeoutMs,
      talkAfterTls: r.talkAfterTls,
    });
  } catch (e) {
    connectError = asShieldError(e).message;
  }
  let versions = null;
  let withoutSha1 = null;
  if (r.trials && main && main.tlsAttempted && main.dialogError === null) {
    versions = await versionTrials(t, starttls);
    if (versions['TLSv1.2'].ok) {
      withoutSha1 = await trialHandshake(t, starttls, {
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
        sigalgs: SIGALGS_WITHOUT_SHA1,
      });
    }
  }
  return assembleProbe({
    target: { host: r.host, port: r.port, servername: r.servername, mode: r.mode, protocol: r.protocol },
    main,
    connectError,
    versionTrials: versions,
    withoutSha1,
    policy: r.policy,
    exceptions: r.exceptions,
    now: r.now,
  });
}

// The one scan pipeline: every engine at once, one combined verdict, then the action. Every protocol calls this. Its
// promise: an original is durable in quarantine before scan() resolves with replace or refuse, and a message is never
// released unscanned without saying so in a header. It touches no store, file or worker itself: the engines, the
// quarantine, the release list and the detection log are handed in (src/io/scan-setup.ts wires the real ones).
import type { Config } from '../core/config.js';
import { isShieldError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Engine, LiveScan, ScanInput } from './engine.js';
import { readHeaders, replaceHeader, type MessageHeaders } from './headers.js';
import { buildNotice } from './notice.js';
import { liveSha256, releaseFor, type ReleaseList } from './release-check.js';
import { readAll, sourceOf, type MessageSource, type SpoolReader } from './source.js';
import { addTlsTrace } from './tls-trace-header.js';
import type { CaptureMeta, CapturedMessage, Direction, LiveCapture, ScanAction, Scanner, Verdict } from './types.js';
import { combineVerdicts, describeVerdict, isFinding, verdictHeaderValue } from './verdict.js';

/** What the quarantine list shows for an entry. */
export interface QuarantineMeta {
  account: string;
  protocol: 'pop3' | 'imap' | 'smtp';
  direction: Direction;
  verdict: Verdict;
  subject?: string;
  from?: string;
  connId?: string;
}

/** Where originals go before a notice or refusal replaces them (src/store/quarantine.ts). */
export interface QuarantinePort {
  /** Resolves once the original is durable; the entry id. */
  put(original: Buffer | { path: string }, meta: QuarantineMeta): Promise<string>;
  /** Removes entries older than `retentionDays`; how many. */
  purge(retentionDays: number): number;
}

/** One row of the detection log (the dashboard's list of findings and scan errors). */
export interface DetectionRow {
  at: string;
  account: string;
  protocol: string;
  direction: Direction;
  kind: Verdict['kind'];
  engine: string;
  name: string;
  part: string | null;
  quarantineId: string | null;
  connectionId: string | null;
}

export interface PipelineDeps<Q extends QuarantinePort = QuarantinePort> {
  config: Config;
  /** In configured order: the combined verdict counts them as if they ran one after the other (see combineInOrder). */
  engines: Engine[];
  quarantine: Q;
  releases: ReleaseList;
  recordDetection(row: DetectionRow): void;
  /** Reads spooled messages. */
  spool: SpoolReader;
  log: Logger;
  now?: () => Date;
  /** Called after the original is durable in quarantine and before the notice or refusal is built (crash tests). */
  afterQuarantine?: (id: string) => void | Promise<void>;
}

export type ScanPipeline<Q extends QuarantinePort = QuarantinePort> = Required<Scanner> & {
  /** Waits for the scans that are running, then stops the engines. */
  close(): Promise<void>;
  readonly quarantine: Q;
};

/** Retention purge runs at most this often, piggybacked on scans, so the pipeline needs no timer. */
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

/** The shield's verdict header on top, and any the sender put there removed (issue 12: a forged "clean" survived). */
function withVerdictHeader(original: Buffer, value: string): Buffer {
  return replaceHeader(original, VERDICT_HEADER, `${VERDICT_HEADER}: ${value}`);
}

const VERDICT_HEADER = 'X-MailShield-Verdict';

/** The text after "554 5.7.1 " in an SMTP refusal: one line, ASCII, bounded. */
function refusalReply(v: Extract<Verdict, { kind: 'infected' | 'blocked' }>, id: string): string {
  const what =
    v.kind === 'infected'
      ? `virus "${v.signature}" found in ${v.part} by ${v.engine}`
      : `${v.part} blocked by rule ${v.rule}${v.detail ? ` (${v.detail})` : ''}`;
  const text = `Message refused: ${what}. The original is in quarantine as ${id}`.replace(/[^\x20-\x7e]/g, '?');
  return text.length > 450 ? text.slice(0, 447) + '...' : text;
}

export function createPipeline<Q extends QuarantinePort>(deps: PipelineDeps<Q>): ScanPipeline<Q> {
  const now = deps.now ?? (() => new Date());
  const log = deps.log.child({ component: 'scan' });
  const { engines, quarantine, releases } = deps;
  const { actions } = deps.config;
  let lastPurge = -Infinity;

  function record(msg: CapturedMessage, v: Verdict, quarantineId: string | null): void {
    if (v.kind === 'clean') return;
    const name = v.kind === 'infected' ? v.signature : v.kind === 'blocked' ? v.rule : v.reason;
    const part = v.kind === 'error' ? null : v.part;
    try {
      deps.recordDetection({
        at: now().toISOString(),
        account: msg.account,
        protocol: msg.protocol,
        direction: msg.direction,
        kind: v.kind,
        engine: v.engine,
        name,
        part,
        quarantineId,
        connectionId: msg.connId ?? null,
      });
    } catch (e) {
      // The verdict and quarantine matter; a failed event row only costs the dashboard one line.
      log.error({ err: e instanceof Error ? e.message : String(e) }, 'could not record the detection');
    }
  }

  function maybePurge(): void {
    const t = now().getTime();
    if (t - lastPurge < PURGE_INTERVAL_MS) return;
    lastPurge = t;
    try {
      const n = quarantine.purge(deps.config.quarantine.retentionDays);
      if (n > 0)
        log.info({ purged: n, retentionDays: deps.config.quarantine.retentionDays }, 'quarantine retention purge');
    } catch (e) {
      log.error({ err: e instanceof Error ? e.message : String(e) }, 'quarantine purge failed');
    }
  }

  /**
   * All engines at once: the message costs the slowest engine, not the sum. The verdict is combined as when they ran
   * one after the other and stopped at the first finding: engines after it in configured order do not count. An engine
   * that scanned the message live (`live[i]`) only has to finish; the others scan it whole now.
   */
  async function runEngines(input: ScanInput, live?: readonly (LiveScan | null)[]): Promise<Verdict> {
    const verdicts = await Promise.all(
      engines.map((e, i) => {
        const l = live?.[i];
        return (l ? l.end(input) : e.scan(input)).catch((err: unknown): Verdict => ({
          kind: 'error',
          engine: e.name,
          reason: err instanceof Error ? err.message : String(err),
        }));
      }),
    );
    const first = verdicts.findIndex(isFinding);
    return combineVerdicts(first === -1 ? verdicts : verdicts.slice(0, first + 1));
  }

  /** Stores the original with what the quarantine list shows for it. */
  function putInQuarantine(
    msg: CapturedMessage,
    src: MessageSource,
    v: Verdict,
    headers: MessageHeaders,
  ): Promise<string> {
    return quarantine.put('bytes' in src ? src.bytes : { path: src.path }, {
      account: msg.account,
      protocol: msg.protocol,
      direction: msg.direction,
      verdict: v,
      subject: headers.subject,
      from: headers.from,
      connId: msg.connId,
    });
  }

  async function actOnFinding(
    msg: CapturedMessage,
    src: MessageSource,
    v: Extract<Verdict, { kind: 'infected' | 'blocked' }>,
    mlog: Logger,
  ): Promise<ScanAction> {
    const headers = await readHeaders(src);
    let id: string;
    try {
      id = await putInQuarantine(msg, src, v, headers);
    } catch (e) {
      // Without a quarantined copy, replacing or refusing could lose the original: keep it where it is instead.
      const reason = isShieldError(e) ? e.toReplyText(300) : String(e);
      mlog.error({ verdict: v, err: reason }, 'quarantine failed; temporary failure instead of replace/refuse');
      record(msg, v, null);
      return { action: 'tempfail', verdict: v, reason: `message held back: ${describeVerdict(v)}, but ${reason}` };
    }
    await deps.afterQuarantine?.(id);
    record(msg, v, id);
    mlog.warn(
      { verdict: v, quarantineId: id, subject: headers.subject },
      `${msg.direction} message ${v.kind}: ${describeVerdict(v)}`,
    );
    if (msg.direction === 'outgoing')
      return { action: 'refuse', verdict: v, reply: refusalReply(v, id), quarantineId: id };
    const notice = buildNotice({
      fields: headers.fields,
      verdict: v,
      quarantineId: id,
      subjectPrefix: actions.subjectPrefix,
      originalSize: msg.size,
      subject: headers.subject,
      now: now(),
    });
    return { action: 'replace', verdict: v, notice, quarantineId: id };
  }

  async function quarantineUnscanned(
    msg: CapturedMessage,
    src: MessageSource,
    v: Verdict,
    mlog: Logger,
  ): Promise<string | null> {
    try {
      return await putInQuarantine(msg, src, v, await readHeaders(src));
    } catch (e) {
      mlog.error({ err: isShieldError(e) ? e.message : String(e) }, 'could not quarantine an unscanned message');
      return null;
    }
  }

  /** `live`: the engines' live scans of this message (null for an engine that scans it whole), and its digest. */
  async function scan(
    msg: CapturedMessage,
    live?: { scans: readonly (LiveScan | null)[]; digest?: () => string },
  ): Promise<ScanAction> {
    maybePurge();
    const src = sourceOf(msg, deps.spool);
    const mlog = log.child({
      connId: msg.connId,
      account: msg.account,
      protocol: msg.protocol,
      direction: msg.direction,
    });
    // Checked at the end, whatever the engines found meanwhile: the operator released these exact bytes.
    const released = await releaseFor(releases, src, live?.digest);
    if (released) {
      for (const l of live?.scans ?? []) l?.abort();
      mlog.info(
        { sha256: released.sha256, by: released.releasedBy, at: released.releasedAt },
        'released message passes',
      );
      return { action: 'release', verdict: { kind: 'clean' } };
    }
    const started = now().getTime();
    const v = await runEngines({ source: src, size: msg.size, connId: msg.connId }, live?.scans);
    mlog.debug({ verdict: v.kind, size: msg.size, ms: now().getTime() - started }, 'scanned');

    if (isFinding(v)) return actOnFinding(msg, src, v, mlog);
    if (v.kind === 'error') {
      // Even an unscanned message goes to quarantine first (issue 3: every case but a clean release), so an
      // operator can scan it by hand; entries are deduplicated, so retries during an outage add no rows.
      const qid = await quarantineUnscanned(msg, src, v, mlog);
      record(msg, v, qid);
      if (deps.config.scan.onError === 'deliver-tagged') {
        mlog.warn({ verdict: v }, 'scan failed; delivering tagged as unscanned (scan.onError = deliver-tagged)');
        return {
          action: 'release',
          verdict: v,
          bytes: withVerdictHeader(await readAll(src), verdictHeaderValue(v)),
        };
      }
      mlog.warn({ verdict: v }, 'scan failed; temporary failure, the mail stays where it is (scan.onError = tempfail)');
      return { action: 'tempfail', verdict: v, reason: `mail scan failed: ${v.engine}: ${v.reason}` };
    }
    if (actions.addScannedHeader)
      return { action: 'release', verdict: v, bytes: withVerdictHeader(await readAll(src), 'clean') };
    return { action: 'release', verdict: v };
  }

  /** Scans not yet decided; close() waits for them, so a shutdown never cuts one off half-way. */
  const inFlight = new Set<Promise<unknown>>();
  /** Live captures not yet finished: at close() their messages can no longer complete, so they are dropped. */
  const open = new Set<LiveCapture>();

  function track(m: CapturedMessage, run: Promise<ScanAction>): Promise<ScanAction> {
    const p = actions.addTlsTraceHeader ? run.then((a) => addTlsTrace(a, m, deps.spool)) : run;
    inFlight.add(p);
    void p.then(
      () => inFlight.delete(p),
      () => inFlight.delete(p),
    );
    return p;
  }

  /** An engine that cannot start a live scan scans the message whole at the end instead. */
  function beginEngine(e: Engine, meta: CaptureMeta): LiveScan | null {
    try {
      return e.begin?.({ connId: meta.connId }) ?? null;
    } catch (err) {
      log.warn({ engine: e.name, err: err instanceof Error ? err.message : String(err) }, 'live scan not started');
      return null;
    }
  }

  function begin(meta: CaptureMeta): LiveCapture {
    const scans = engines.map((e) => beginEngine(e, meta));
    // Hashed on the way only while someone has released a message: mail pays nothing for it otherwise.
    const hash = releases.any() ? liveSha256() : undefined;
    let state: 'open' | 'finished' | 'aborted' = 'open';
    const capture: LiveCapture = {
      write(chunk) {
        if (state !== 'open') return;
        hash?.update(chunk);
        for (const l of scans) l?.write(chunk);
      },
      get backlog() {
        let most = 0;
        for (const l of scans) if (l && l.backlog > most) most = l.backlog;
        return most;
      },
      async whenBelow(limit) {
        await Promise.all(scans.map((l) => l?.whenBelow(limit)));
      },
      finish(m) {
        // Dropped at close(): the engines it fed are gone; the message is scanned whole like any other.
        if (state !== 'open') return pipeline.scan(m);
        state = 'finished';
        open.delete(capture);
        return track(m, scan(m, { scans, digest: hash?.digest }));
      },
      abort() {
        if (state !== 'open') return;
        state = 'aborted';
        open.delete(capture);
        for (const l of scans) l?.abort();
      },
    };
    open.add(capture);
    return capture;
  }

  const pipeline: ScanPipeline<Q> = {
    scan: (m) => track(m, scan(m)),
    begin,
    quarantine,
    async close() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      for (const c of [...open]) c.abort();
      await Promise.all(engines.map((e) => e.close?.()));
    },
  };
  return pipeline;
}

// The configuration contract. One schema validates the whole file, and every default lives in it. Parsing is pure:
// the CLI reads the file and hands the text here.
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { DEFAULT_LIMITS } from './limits.js';
import { ShieldError } from './errors.js';
import { checkAccounts, checkDashboard, checkIntercept } from './config-checks.js';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'host:port, with IPv6 in brackets ([::1]:1995)');

const isoDate = z.union([
  z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD'),
  z.date().transform((d) => d.toISOString().slice(0, 10)),
]);

export const EXCEPTION_RELAXATIONS = ['sha1-handshake-signature', 'tls1.0', 'tls1.1'] as const;
export type Relaxation = (typeof EXCEPTION_RELAXATIONS)[number];

export const CLIENT_POLICIES = ['auto', 'strict', 'balanced', 'legacy'] as const;
export const UPSTREAM_POLICIES = ['strict', 'balanced', 'legacy'] as const;
export type ClientPolicyName = (typeof CLIENT_POLICIES)[number];
export type UpstreamPolicyName = (typeof UPSTREAM_POLICIES)[number];

const exceptionSchema = z.strictObject({
  host: z.string().min(1),
  allow: z.array(z.enum(EXCEPTION_RELAXATIONS)).min(1),
  until: isoDate,
  /** Why the exception exists, shown by doctor. */
  reason: z.string().optional(),
});

const accountSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, underscore or dash'),
  protocol: z.enum(['pop3', 'imap', 'smtp']),
  listen: hostPort,
  clientTls: z.enum(['implicit', 'starttls', 'none']),
  upstream: hostPort,
  upstreamTls: z.enum(['implicit', 'starttls']),
  /** Name to verify the upstream certificate against and send as SNI; defaults to the host of `upstream`. */
  upstreamServername: z.string().optional(),
  upstreamCa: z.string().optional(),
  upstreamPin: z
    .string()
    .regex(/^sha256\/[A-Za-z0-9+/]{43}=$/, 'sha256/ followed by the base64 SHA-256 of the server SubjectPublicKeyInfo')
    .optional(),
});

/** The ports intercept mode knows; the port decides protocol and TLS mode (src/core/intercept.ts). */
export const INTERCEPT_PORTS = [25, 110, 143, 465, 587, 993, 995] as const;

const interceptSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Destination ports whose outgoing connections are redirected. 25 is optional (server-to-server mail). */
  ports: z
    .array(z.union(INTERCEPT_PORTS.map((p) => z.literal(p))))
    .min(1)
    .default([110, 143, 465, 587, 993, 995]),
  /** Mail domains whose servers may be intercepted; a name outside them is relayed untouched. */
  domains: z.array(z.string().min(1)).default([]),
  /** Destination IP -> server name, for clients that send no SNI. */
  hosts: z.record(z.string(), z.string().min(1)).default({}),
  /** Trust anchors (PEM file) added to the system store for intercepted upstreams. */
  upstreamCa: z.string().optional(),
  /** Where the redirected connections arrive (one port: the original destination port names the protocol). */
  listen: hostPort.default('127.0.0.1:10990'),
  /** Socket mark (SO_MARK) on mailshield's own upstream sockets; the rules let marked packets through. */
  upstreamMark: z.number().int().min(1).max(0xffffffff).default(0x4d53),
  /** Gateway mode: also redirect connections arriving on this LAN interface (prerouting). */
  gateway: z
    .strictObject({ interface: z.string().regex(/^[A-Za-z0-9_.:-]{1,15}$/, 'an interface name such as eth0') })
    .optional(),
});

const ruleAction = z.enum(['block', 'allow']);

const limitsSchema = z.strictObject({
  maxLineBytes: z.number().int().min(512).default(DEFAULT_LIMITS.maxLineBytes),
  maxLiteralBytes: z.number().int().min(0).default(DEFAULT_LIMITS.maxLiteralBytes),
  maxMessageBytes: z.number().int().min(0).default(DEFAULT_LIMITS.maxMessageBytes),
  scanAheadMaxBytes: z.number().int().min(0).default(DEFAULT_LIMITS.scanAheadMaxBytes),
  spoolThresholdBytes: z.number().int().min(0).default(DEFAULT_LIMITS.spoolThresholdBytes),
  clientHandshakeTimeoutMs: z.number().int().min(100).default(DEFAULT_LIMITS.clientHandshakeTimeoutMs),
  upstreamConnectTimeoutMs: z.number().int().min(100).default(DEFAULT_LIMITS.upstreamConnectTimeoutMs),
  upstreamGreetingTimeoutMs: z.number().int().min(100).default(DEFAULT_LIMITS.upstreamGreetingTimeoutMs),
  idleTimeoutMs: z.number().int().min(1000).default(DEFAULT_LIMITS.idleTimeoutMs),
  scanKeepaliveMs: z.number().int().min(100).default(DEFAULT_LIMITS.scanKeepaliveMs),
  // Every message has one entity, and mailparser reads 0 here as "its default": both are refused rather than ignored.
  maxMimeParts: z.number().int().min(1).default(DEFAULT_LIMITS.maxMimeParts),
  maxMimeDepth: z.number().int().min(0).max(1000).default(DEFAULT_LIMITS.maxMimeDepth),
  maxHeaderBytes: z.number().int().min(1024).default(DEFAULT_LIMITS.maxHeaderBytes),
});

export const configSchema = z.strictObject({
  dataDir: z.string().default('./.mailshield'),
  policy: z
    .strictObject({
      client: z.enum(CLIENT_POLICIES).default('auto'),
      upstream: z.enum(UPSTREAM_POLICIES).default('balanced'),
      exceptions: z.array(exceptionSchema).default([]),
      /**
       * A policy to try on real traffic before it applies: every handshake is also judged under it, and what it
       * would refuse is recorded (mailshield policy report). It never changes a connection.
       */
      candidate: z
        .strictObject({ client: z.enum(CLIENT_POLICIES).optional(), upstream: z.enum(UPSTREAM_POLICIES).optional() })
        .optional(),
    })
    .prefault({}),
  ca: z
    .strictObject({
      /** More names (DNS or IP) the CA may issue for, e.g. a LAN address the listener is reached by. */
      extraNames: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  accounts: z.array(accountSchema).default([]),
  intercept: interceptSchema.prefault({}),
  scan: z
    .strictObject({
      engines: z
        .array(z.enum(['builtin', 'clamd']))
        .min(1)
        .default(['builtin']),
      onError: z.enum(['tempfail', 'deliver-tagged']).default('tempfail'),
      builtin: z
        .strictObject({
          hashList: z.string().optional(),
          /** Worker threads that scan off the event loop; auto: one fewer than the cores (at least one); 0: none. */
          workers: z.union([z.literal('auto'), z.number().int().min(0)]).default('auto'),
          /** A worker scan running longer is stopped and its worker replaced: an error verdict (scan.onError). */
          timeoutMs: z.number().int().min(1).default(120_000),
          /** Messages smaller than this are scanned on the event loop: handing them to a worker costs more. */
          offloadMinBytes: z
            .number()
            .int()
            .min(0)
            .default(256 * 1024),
          rules: z
            .strictObject({
              executables: ruleAction.default('block'),
              scripts: ruleAction.default('block'),
              doubleExtension: ruleAction.default('block'),
              rtlOverride: ruleAction.default('block'),
              officeMacros: ruleAction.default('block'),
              encryptedArchives: ruleAction.default('block'),
            })
            .prefault({}),
          archive: z
            .strictObject({
              maxDepth: z.number().int().min(0).default(3),
              maxEntries: z.number().int().min(0).default(1000),
              maxExpandedBytes: z
                .number()
                .int()
                .min(0)
                .default(200 * 1024 * 1024),
              maxRatio: z.number().min(1).default(100),
            })
            .prefault({}),
        })
        .prefault({}),
      clamd: z
        .strictObject({
          /** unix:/path/to/clamd.ctl, /path/to/socket, or host:port */
          address: z.string().default('unix:/var/run/clamav/clamd.ctl'),
          timeoutMs: z.number().int().min(100).default(30_000),
          streamMaxLength: z
            .number()
            .int()
            .min(1024)
            .default(25 * 1024 * 1024),
          poolSize: z.number().int().min(1).max(32).default(2),
        })
        .prefault({}),
    })
    .prefault({}),
  actions: z
    .strictObject({
      incoming: z.enum(['replace']).default('replace'),
      subjectPrefix: z.string().default('[virus removed] '),
      addScannedHeader: z.boolean().default(false),
      /** One X-MailShield-Upstream-TLS header on incoming mail: what protected the internet hop. Off by default. */
      addTlsTraceHeader: z.boolean().default(false),
      /** Optional line for clean outgoing mail (SMTP); off by default. */
      outgoingSignature: z
        .strictObject({
          mode: z.enum(['off', 'header', 'footer']).default('off'),
          text: z.string().default('Scanned by mailshield.'),
        })
        .prefault({}),
    })
    .prefault({}),
  quarantine: z.strictObject({ retentionDays: z.number().int().min(0).default(30) }).prefault({}),
  pop3: z
    .strictObject({
      /**
       * false (default): a client's DELE of a message mailshield replaced goes to the server as usual; the original
       * is already in quarantine. true: mailshield answers that DELE with +OK itself and the infected message stays
       * on the server (for an administrator to inspect or a server-side scanner to handle); clean messages are
       * deleted as usual. A pipelined DELE waits for the verdict of the RETR before it.
       */
      keepInfectedOnServer: z.boolean().default(false),
    })
    .prefault({}),
  smtp: z
    .strictObject({
      /**
       * A bare LF, bare CR or NUL in message data. normalize (default): a bare LF or CR is a line end and becomes
       * CRLF, a NUL is removed (Postfix's smtpd_forbid_bare_newline = normalize). reject: 554 and the session closes.
       * Either way only <CR><LF>.<CR><LF> ends the message (no SMTP smuggling).
       */
      bareLineEndings: z.enum(['normalize', 'reject']).default('normalize'),
    })
    .prefault({}),
  limits: limitsSchema.prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      format: z.enum(['auto', 'pretty', 'json']).default('auto'),
    })
    .prefault({}),
  shutdownTimeoutMs: z.number().int().min(0).default(10_000),
  dashboard: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Loopback by default; any other address also needs passwordHash (checked below). */
      listen: hostPort.default('127.0.0.1:8025'),
      /** More Host header names the dashboard answers to (a LAN name or address); loopback names always work. */
      hosts: z.array(z.string().min(1)).default([]),
      /** `mailshield dashboard hash-password` prints it: scrypt$N$r$p$salt$hash (base64). */
      passwordHash: z
        .string()
        .regex(
          /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/,
          'the output of `mailshield dashboard hash-password`',
        )
        .optional(),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type AccountConfig = Config['accounts'][number];
export type InterceptConfig = Config['intercept'];
export type PolicyException = Config['policy']['exceptions'][number];

function describeFound(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

function formatPath(path: readonly PropertyKey[]): string {
  return (
    path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('') || '(top)'
  );
}

/**
 * Parses and validates YAML text. A failure is one MS_ERR_CONFIG_INVALID whose message lists, per problem, the file,
 * the key's path, what was expected and what was found.
 */
export function parseConfig(text: string, file: string): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new ShieldError('MS_ERR_CONFIG_INVALID', `${file}: not valid YAML: ${e.message.split('\n')[0]}`);
  }
  let raw: unknown;
  try {
    // toJS resolves aliases: an alias to a missing anchor or an alias bomb (maxAliasCount) throws here, after parsing.
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new ShieldError('MS_ERR_CONFIG_INVALID', `${file}: not valid YAML: ${msg.split('\n')[0]}`);
  }
  return validateConfig(raw, file);
}

export function validateConfig(raw: unknown, file: string): Config {
  const res = configSchema.safeParse(raw);
  if (res.success) {
    checkAccounts(res.data, file);
    checkIntercept(res.data.intercept, file);
    checkDashboard(res.data, file);
    return res.data;
  }
  const lines = res.error.issues.map((iss) => {
    if (iss.code === 'unrecognized_keys') {
      const keys = iss.keys.map((k) => formatPath([...iss.path, k])).join(', ');
      return `${file}: unknown key ${keys}`;
    }
    const found = describeFound(valueAt(raw, iss.path));
    const expected = iss.message
      .replace(/^Invalid (input|option|value): /, '')
      .replace(/^expected /, '')
      .replace(/, received .*$/, '');
    return `${file}: ${formatPath(iss.path)}: expected ${expected}, found ${found}`;
  });
  throw new ShieldError('MS_ERR_CONFIG_INVALID', lines.join('\n'));
}

/** Defaults for an empty file: every value of the schema's defaults. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}

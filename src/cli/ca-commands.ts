// `mailshield ca path|export|install|rotate`: where the local CA is, how to get it out, and how to trust it in each
// client. Only the Linux system store is changed for the user; everything else is printed as exact commands, because
// trusting a CA is a decision the user should see being made.
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import * as x509 from '@peculiar/x509';
import { CA_CERT_FILE, loadOrCreateCa, rotateCa } from '../store/ca-files.js';
import { caPermittedNames } from '../tls/ca-names.js';
import type { LocalCa } from '../tls/ca.js';
import { loadConfig } from './context.js';

/** Where Debian/Ubuntu's update-ca-certificates picks up local CAs (files must end in .crt, PEM). */
export const LINUX_CA_DIR = '/usr/local/share/ca-certificates';

export interface CaCommandIo {
  out(s: string | Uint8Array): void;
  err(s: string): void;
  now(): Date;
  /** The Linux store folder; tests point it at a temporary folder. */
  linuxStoreDir: string;
  /** Runs update-ca-certificates; returns null when the command does not exist. */
  updateCaCertificates(): { status: number | null; output: string } | null;
}

function defaultIo(): CaCommandIo {
  return {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    now: () => new Date(),
    linuxStoreDir: LINUX_CA_DIR,
    updateCaCertificates: () => {
      const r = spawnSync('update-ca-certificates', [], { encoding: 'utf8' });
      if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
    },
  };
}

/** What identifies one CA in each trust store, so install and removal commands name exactly this CA. */
export interface CaIdentity {
  certPath: string;
  subject: string;
  /** lowercase hex */
  sha256: string;
  /** uppercase hex, what macOS `security -Z` takes */
  sha1: string;
  /** hex, what Windows `certutil -delstore` takes */
  serial: string;
  /** File name in the Linux store: one per CA, so a rotated CA never overwrites a still-trusted older file. */
  linuxFile: string;
  /** NSS nickname. */
  nickname: string;
}

export async function caIdentity(certPath: string, pem: string): Promise<CaIdentity> {
  const cert = new x509.X509Certificate(pem);
  const sha256 = Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex');
  const sha1 = Buffer.from(await cert.getThumbprint('SHA-1'))
    .toString('hex')
    .toUpperCase();
  // 16 hex digits (64 bits) tell installs apart in a shared folder without making the name unwieldy.
  const short = sha256.slice(0, 16);
  return {
    certPath,
    subject: cert.subject,
    sha256,
    sha1,
    serial: cert.serialNumber,
    linuxFile: `mailshield-${short}.crt`,
    nickname: `mailshield local CA ${short}`,
  };
}

/** Double quotes work the same in cmd, PowerShell and POSIX shells for names without `"`, `$` or `%`. */
function dq(s: string): string {
  return /^[A-Za-z0-9_./:=@+\\-]+$/.test(s) ? s : `"${s}"`;
}

function shq(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The commands that add this CA to the stores mailshield does not touch itself. */
export function trustCommands(id: CaIdentity, linuxStoreDir: string): string {
  const p = shq(id.certPath);
  return [
    `Linux (Debian/Ubuntu system store, as root):`,
    `  cp ${p} ${shq(join(linuxStoreDir, id.linuxFile))} && update-ca-certificates`,
    `Windows (current user's Root store; run in cmd or PowerShell, with the file copied to that machine):`,
    `  certutil -addstore -user Root ${dq(id.certPath)}`,
    `macOS (login keychain; add "sudo" and "-d -k /Library/Keychains/System.keychain" for all users):`,
    `  security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db ${p}`,
    `Thunderbird (its own NSS store; close Thunderbird first; certutil is in libnss3-tools / nss):`,
    `  certutil -d sql:PROFILE -A -t "C,," -n "${id.nickname}" -i ${dq(id.certPath)}`,
    `  PROFILE is ~/.thunderbird/XXXX.default-release (Linux), %APPDATA%\\Thunderbird\\Profiles\\XXXX (Windows),`,
    `  ~/Library/Thunderbird/Profiles/XXXX (macOS). The "C,," trust flags mean: trusted to issue server certificates.`,
    ``,
  ].join('\n');
}

/** The commands that remove a retired CA from every store. */
export function untrustCommands(id: CaIdentity, linuxStoreDir: string): string {
  return [
    `Linux:       rm -f ${shq(join(linuxStoreDir, id.linuxFile))} && update-ca-certificates --fresh`,
    `Windows:     certutil -delstore -user Root ${id.serial}`,
    `macOS:       security delete-certificate -Z ${id.sha1} ~/Library/Keychains/login.keychain-db`,
    `Thunderbird: certutil -d sql:PROFILE -D -n "${id.nickname}"`,
    ``,
  ].join('\n');
}

interface Ctx {
  ca: LocalCa;
  id: CaIdentity;
}

function settings(cmd: Command): { dataDir: string; permittedNames: string[] } {
  const global = cmd.optsWithGlobals<{ config?: string }>();
  const loaded = loadConfig({ config: global.config });
  return { dataDir: loaded.dataDir, permittedNames: caPermittedNames(loaded.config) };
}

async function open(cmd: Command, io: CaCommandIo): Promise<Ctx> {
  const ca = await loadOrCreateCa({ ...settings(cmd), now: io.now() });
  if (ca.created)
    io.err(`mailshield: made a new local CA in ${ca.dir}; clients must trust it: mailshield ca install\n`);
  if (ca.uncovered.length > 0)
    io.err(
      `mailshield: the CA does not cover ${ca.uncovered.join(', ')} (added to the configuration after it was made); ` +
        `clients connecting by those names will not verify. Run \`mailshield ca rotate\` and trust the new CA.\n`,
    );
  return { ca, id: await caIdentity(ca.certPath, ca.certPem) };
}

/** Adds the CA to the Linux store. Returns what was done, in sentences. */
export async function installLinux(ctx: Ctx, io: CaCommandIo, runUpdate: boolean): Promise<string> {
  const dest = join(io.linuxStoreDir, ctx.id.linuxFile);
  const lines: string[] = [];
  const current = existsSync(dest) ? readFileSync(dest, 'utf8') : null;
  if (current === ctx.ca.certPem) {
    lines.push(`${dest} is already there.`);
  } else {
    try {
      await writeFile(dest, ctx.ca.certPem, { mode: 0o644 });
      await chmod(dest, 0o644);
      lines.push(`Wrote ${dest}.`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied (needs root)' : String(e);
      return (
        `Could not write ${dest}: ${why}. Run as root:\n` +
        `  sudo cp ${shq(ctx.ca.certPath)} ${shq(dest)} && sudo update-ca-certificates\n`
      );
    }
  }
  if (!runUpdate) {
    lines.push('Skipped update-ca-certificates (--no-update).');
  } else {
    const r = io.updateCaCertificates();
    if (r === null)
      lines.push('update-ca-certificates is not installed; rebuild the bundle with your distribution tool.');
    else if (r.status === 0) lines.push(`Ran update-ca-certificates: ${r.output.split('\n').pop() ?? 'ok'}`);
    else lines.push(`update-ca-certificates failed (exit ${r.status}): ${r.output}`);
  }
  return lines.join('\n') + '\n';
}

export function registerCaCommands(program: Command, io: CaCommandIo = defaultIo()): void {
  const ca = program.command('ca').description('the local CA that signs the certificates mail clients see');

  ca.command('path')
    .description("print the CA certificate's path (made on first use)")
    .action(async (_opts: unknown, cmd: Command) => {
      const { ca: local } = await open(cmd, io);
      io.out(`${local.certPath}\n`);
    });

  ca.command('export')
    .description('write the CA certificate, PEM by default (to stdout unless --out)')
    .option('--der', 'DER (binary) instead of PEM, e.g. for Windows certmgr')
    .option('-o, --out <file>', 'write to this file')
    .action(async (opts: { der?: boolean; out?: string }, cmd: Command) => {
      const { ca: local } = await open(cmd, io);
      const data = opts.der ? Buffer.from(local.cert.rawData) : Buffer.from(local.certPem);
      if (opts.out) {
        const file = resolve(opts.out);
        await writeFile(file, data, { mode: 0o644 });
        io.err(`wrote ${opts.der ? 'DER' : 'PEM'} CA certificate to ${file}\n`);
      } else {
        io.out(opts.der ? data : data.toString('utf8'));
      }
    });

  ca.command('install')
    .description('trust the CA in the Linux system store, and print the commands for Windows, macOS and Thunderbird')
    .option('--no-update', 'do not run update-ca-certificates')
    .action(async (opts: { update: boolean }, cmd: Command) => {
      const ctx = await open(cmd, io);
      io.out(`CA: ${ctx.id.subject}\nSHA-256 fingerprint: ${ctx.id.sha256}\nCertificate: ${ctx.ca.certPath}\n\n`);
      if (process.platform === 'linux') io.out(await installLinux(ctx, io, opts.update));
      else io.out(`Not on Linux (${process.platform}): no system store changed.\n`);
      io.out(`\nTo trust it elsewhere, run:\n${trustCommands(ctx.id, io.linuxStoreDir)}`);
    });

  ca.command('rotate')
    .description('make a new CA; the old files are kept aside, and every client must trust the new one')
    .action(async (_opts: unknown, cmd: Command) => {
      const s = settings(cmd);
      const oldPath = join(s.dataDir, 'ca', CA_CERT_FILE);
      const oldId = existsSync(oldPath) ? await caIdentity(oldPath, await readFile(oldPath, 'utf8')) : null;
      const local = await rotateCa({ ...s, now: io.now() });
      const id = await caIdentity(local.certPath, local.certPem);
      io.out(`New CA: ${id.subject}\nSHA-256 fingerprint: ${id.sha256}\nCertificate: ${local.certPath}\n`);
      io.out(`Name constraints: ${s.permittedNames.join(', ')}\n`);
      if (local.retired.length > 0)
        io.out(`Old files moved aside (delete the old key once no client trusts it): ${local.retired.join(', ')}\n`);
      io.out(
        `\nRestart mailshield so its listeners use the new CA. Every mail client that trusted the old CA now gets ` +
          `certificate errors until it trusts the new one (mailshield ca install does Linux and prints the rest):\n` +
          trustCommands(id, io.linuxStoreDir),
      );
      if (oldId)
        io.out(
          `\nThen remove the old CA (${oldId.subject}, SHA-256 ${oldId.sha256}) where it was trusted:\n` +
            untrustCommands(oldId, io.linuxStoreDir),
        );
    });
}

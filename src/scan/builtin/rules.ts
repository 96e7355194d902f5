// Attachment rules: pure checks on a part's names and first bytes. Each returns the rule it hit, or nothing.
// The engine decides, per the configured action, whether a hit blocks.

/** Rule names as they appear in verdicts (`blocked; rule=...`), mapped to their key under scan.builtin.rules. */
export const RULES = {
  executable: 'executables',
  script: 'scripts',
  'double-extension': 'doubleExtension',
  'rtl-override': 'rtlOverride',
  'office-macro': 'officeMacros',
  'encrypted-archive': 'encryptedArchives',
} as const;
export type RuleName = keyof typeof RULES | 'archive-bomb';

export interface RuleHit {
  rule: RuleName;
  detail: string;
}

/** Script and shortcut types that run on a double click in Windows mail clients (issue 3's list). */
export const SCRIPT_EXTENSIONS = [
  'js',
  'jse',
  'vbs',
  'vbe',
  'wsf',
  'wsh',
  'hta',
  'scr',
  'pif',
  'cmd',
  'bat',
  'ps1',
  'lnk',
  'iso',
  'img',
] as const;

/** Final extensions that make a double extension dangerous: the script list plus native executables. */
const RUNNABLE = new Set<string>([...SCRIPT_EXTENSIONS, 'exe', 'com', 'msi', 'dll', 'cpl', 'jar', 'reg', 'vb', 'ps2']);

/** Extensions people expect to be harmless documents, the decoy half of `invoice.pdf.exe`. */
const DECOY = new Set([
  'pdf',
  'doc',
  'docx',
  'xls',
  'xlsx',
  'ppt',
  'pptx',
  'odt',
  'rtf',
  'txt',
  'csv',
  'jpg',
  'jpeg',
  'png',
  'gif',
  'bmp',
  'tif',
  'tiff',
  'mp3',
  'mp4',
  'avi',
  'mov',
  'zip',
  'rar',
  '7z',
  'htm',
  'html',
  'xml',
  'eml',
]);

/**
 * Bidirectional-control characters that reorder how a name is displayed (U+202E RIGHT-TO-LEFT OVERRIDE makes
 * "invoice\u202Efdp.exe" show as "invoiceexe.pdf"), plus the other overrides and isolates that do the same trick.
 */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;

/** Name shown in verdicts and notices: bidi controls and other control characters made visible. */
export function displayName(name: string): string {
  return name.replace(
    // Control characters are exactly what this must match.
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`,
  );
}

function extensions(name: string): string[] {
  // Trailing dots and spaces are dropped by Windows when it opens a file, so they hide nothing.
  const base = name.replace(/^.*[\\/]/, '').replace(/[.\s]+$/, '');
  return base
    .split('.')
    .slice(1)
    .map((e) => e.trim().toLowerCase());
}

export function checkName(name: string): RuleHit[] {
  const hits: RuleHit[] = [];
  if (BIDI_CONTROLS.test(name))
    hits.push({
      rule: 'rtl-override',
      detail: `file name ${displayName(name)} contains a right-to-left override character`,
    });
  const exts = extensions(name.replace(/[\u202a-\u202e\u2066-\u2069]/g, ''));
  const last = exts.at(-1);
  if (exts.length >= 2 && last && RUNNABLE.has(last) && DECOY.has(exts.at(-2)!))
    hits.push({
      rule: 'double-extension',
      detail: `file name ${displayName(name)} hides .${last} behind .${exts.at(-2)}`,
    });
  if (last && (SCRIPT_EXTENSIONS as readonly string[]).includes(last))
    hits.push({ rule: 'script', detail: `.${last} files run as scripts or shortcuts when opened` });
  return hits;
}

/** Executable formats recognised by their first bytes, whatever the name says. */
export function executableKind(content: Buffer): string | undefined {
  if (content.length < 4) return undefined;
  const b0 = content[0]!;
  const b1 = content[1]!;
  if (b0 === 0x4d && b1 === 0x5a) {
    // 'MZ' starts every DOS/Windows executable. The PE header offset at 0x3c tells a PE from a bare DOS stub.
    if (content.length >= 0x40) {
      const off = content.readUInt32LE(0x3c);
      if (off + 4 <= content.length && content.readUInt32BE(off) === 0x50450000) return 'Windows PE executable';
    }
    return 'DOS/Windows executable (MZ)';
  }
  const m = content.readUInt32BE(0);
  if (m === 0x7f454c46) return 'ELF executable';
  if (m === 0xfeedface || m === 0xcefaedfe) return 'Mach-O executable (32-bit)';
  if (m === 0xfeedfacf || m === 0xcffaedfe) return 'Mach-O executable (64-bit)';
  if (m === 0xcafebabe || m === 0xcafebabf) {
    // 0xCAFEBABE is also a Java class file; a fat Mach-O has a small architecture count where Java has its version
    // (45 and up).
    if (content.length >= 8 && content.readUInt32BE(4) < 45) return 'Mach-O universal binary';
  }
  return undefined;
}

export function isZip(content: Buffer): boolean {
  return (
    content.length >= 4 &&
    content[0] === 0x50 &&
    content[1] === 0x4b &&
    ((content[2] === 3 && content[3] === 4) ||
      (content[2] === 5 && content[3] === 6) ||
      (content[2] === 7 && content[3] === 8))
  );
}

export function isOle(content: Buffer): boolean {
  return content.length >= 8 && content.readUInt32BE(0) === 0xd0cf11e0 && content.readUInt32BE(4) === 0xa1b11ae1;
}

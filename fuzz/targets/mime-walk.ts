// The MIME walk (mailsplit underneath): every part of a hostile message. The walk must finish, visit each part once,
// and see the same parts whether the message is in memory or spooled to a file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { UnscannableMessage, walkMime, type MimePart } from '../../src/scan/mime-walk.js';
import type { MessageSource } from '../../src/scan/source.js';
import { spoolReader } from '../../src/io/scan-files.js';
import { check, describe, type Target } from '../target.js';

const dir = mkdtempSync(join(tmpdir(), 'mailshield-fuzz-mime-'));
const file = join(dir, 'message.eml');

async function walk(src: MessageSource): Promise<unknown[]> {
  const parts: unknown[] = [];
  let tooDeep = 0;
  const read = async (p: MimePart) => {
    const h = createHash('sha256');
    for await (const c of p.content) h.update(c as Buffer);
    return h.digest('hex').slice(0, 12);
  };
  try {
    await walkMime(
      src,
      async (p) => {
        const rfc822 = p.contentType === 'message/rfc822';
        parts.push([p.id, p.filenames, p.contentType, p.depth, rfc822 ? 'nested' : await read(p)]);
        return 'continue';
      },
      {
        maxMessageDepth: 3,
        // Small structure limits, so inputs of a few KB reach them: an over-limit message must be unscannable the
        // same way from memory and from the spool, never a crash.
        limits: { maxMimeParts: 20, maxMimeDepth: 8, maxHeaderBytes: 4096 },
        onTooDeep: async () => {
          tooDeep++;
          return 'stop';
        },
      },
    );
  } catch (e) {
    // A message the parser cannot read is an error verdict (the builtin engine turns it into one), never a crash.
    check(e instanceof Error, 'walk rejected with a non-Error');
    parts.push(e instanceof UnscannableMessage ? `unscannable: ${e.limit}` : 'unreadable');
  }
  parts.push({ tooDeep });
  return parts;
}

const target: Target = {
  name: 'mime-walk',
  focus: ['src/scan/mime-walk.ts', 'src/scan/source.ts'],
  maxLen: 16_384,
  tokens: [
    '\r\n',
    '\r\n\r\n',
    'Content-Type: multipart/mixed; boundary="b"\r\n',
    '--b\r\n',
    '--b--\r\n',
    'Content-Type: message/rfc822\r\n',
    'Content-Transfer-Encoding: base64\r\n',
    'Content-Transfer-Encoding: quoted-printable\r\n',
    'Content-Disposition: attachment; filename="a.exe"\r\n',
    "filename*=UTF-8''%E2%80%AE",
    '=?UTF-8?B?',
    '?=',
    '=\r\n',
    'name="x.zip"',
  ],
  async run(input) {
    const inMemory = await walk({ bytes: input });
    const ids = inMemory.filter(Array.isArray).map((p) => (p as unknown[])[0]);
    check(new Set(ids).size === ids.length, `a part visited twice: ${ids.join(',')}`);
    writeFileSync(file, input);
    const spooled = await walk({ path: file, reader: spoolReader });
    check(
      describe(inMemory) === describe(spooled),
      `spooled walk differs: ${describe(spooled).slice(0, 300)} vs ${describe(inMemory).slice(0, 300)}`,
    );
  },
  close() {
    rmSync(dir, { recursive: true, force: true });
  },
};
export default target;

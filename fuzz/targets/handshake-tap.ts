// The upstream handshake tap: the server's first flight, recorded as it passes and parsed for the facts the upstream
// policy judges. The tap must pass every byte through unchanged for any split, and its parse must never throw and
// must agree with parsing the same bytes at once.
import { PassThrough } from 'node:stream';
import { createTap, parseServerFlight, type ObservedHandshake } from '../../src/tls/handshake-tap.js';
import { check, describe, splitsOf, type Target } from '../target.js';

async function throughTap(chunks: Buffer[]): Promise<{ passed: Buffer; observed: ObservedHandshake }> {
  const raw = new PassThrough();
  const tap = createTap(raw);
  const got: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    tap.duplex.on('data', (d: Buffer) => got.push(d));
    tap.duplex.on('end', resolve);
    tap.duplex.on('error', reject);
  });
  for (const c of chunks) raw.write(c);
  raw.end();
  await ended;
  const observed = tap.observed();
  tap.stop();
  tap.duplex.destroy();
  return { passed: Buffer.concat(got), observed };
}

function sane(o: ObservedHandshake): void {
  check(o.note === null || (typeof o.note === 'string' && o.note.length > 0), 'empty note');
  if (o.complete) check(o.version !== null, 'complete flight without a version');
  if (o.alert) check(o.alert.level <= 255 && o.alert.description <= 255, 'alert out of range');
  check(
    (o.signatureScheme === null) === (o.peerSignatureType === null) || o.signatureScheme === null,
    'scheme without its type',
  );
}

const target: Target = {
  name: 'handshake-tap',
  focus: ['src/tls/handshake-tap.ts', 'src/tls/record.ts'],
  maxLen: 8000,
  tokens: [
    '\x16\x03\x03',
    '\x15\x03\x03\x00\x02',
    '\x14\x03\x03\x00\x01\x01',
    '\x17\x03\x03',
    '\x02\x00',
    '\x0c\x00',
    '\x0e\x00\x00\x00',
    '\x0f\x00',
    '\x03\x04',
    '\x00\x2b\x00\x02\x03\x04',
    '\x13\x01',
    '\xc0\x2f',
    '\x04\x01',
    '\x02\x01',
  ],
  async run(input) {
    const once = parseServerFlight(input);
    sane(once);
    const want = describe([once]);
    for (const split of splitsOf(input).slice(0, 3)) {
      const { passed, observed } = await throughTap(split);
      check(passed.equals(input), `tap passed ${passed.length} bytes of ${input.length}`);
      check(describe([observed]) === want, `tap parse differs from one-shot parse: ${describe([observed])} vs ${want}`);
    }
  },
};
export default target;

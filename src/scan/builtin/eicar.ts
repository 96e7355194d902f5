// The EICAR anti-virus test file. The needle is stored XOR-masked and unmasked at run time, so this source file
// never carries the string itself (it would trip scanners on every checkout and mail of the code).
const MASKED =
  '026f157b0a7f1a1b0a016e060a00026f6e720a04736d1919736d277e1f13191b0877090e1b141e1b081e771b140e130c13080f09770e1f090e771c13161f7b7e12711270';
const MASK = 0x5a;

let needle: Buffer | undefined;

/** The 68-byte EICAR string. */
export function eicarNeedle(): Buffer {
  needle ??= Buffer.from(Buffer.from(MASKED, 'hex').map((b) => b ^ MASK));
  return needle;
}

export const EICAR_SIGNATURE = 'EICAR-Test-File';

/**
 * True when `content` contains the 68-byte EICAR string anywhere. The official definition wants it at offset 0
 * followed only by whitespace, but mail scanners conventionally match it anywhere in a decoded part, and users test
 * with it embedded in text bodies.
 */
export function containsEicar(content: Buffer): boolean {
  return content.length >= 68 && content.indexOf(eicarNeedle()) !== -1;
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkName, displayName, executableKind, isOle, isZip } from './rules.js';

const rules = (name: string) => checkName(name).map((h) => h.rule);

test('checkName', () => {
  assert.deepEqual(rules('report.pdf'), []);
  assert.deepEqual(rules('run.JS'), ['script']);
  assert.deepEqual(rules('invoice.pdf.exe'), ['double-extension']);
  assert.deepEqual(rules('invoice.pdf.js'), ['double-extension', 'script']);
  assert.deepEqual(rules('invoice.pdf.exe. . '), ['double-extension'], 'trailing dots and spaces hide nothing');
  assert.deepEqual(rules('C:\\path.pdf\\run.vbs'), ['script'], 'folders are not extensions');
  assert.deepEqual(rules('my.backup.tar'), []);
  assert.deepEqual(rules('invoice\u202Efdp.exe'), ['rtl-override']);
  assert.deepEqual(rules('x\u2067y.txt'), ['rtl-override'], 'isolates do the same trick');
  assert.deepEqual(rules('\u202Egpj.lnk'), ['rtl-override', 'script']);
});

test('displayName makes controls visible', () => {
  assert.equal(displayName('a\u202Eb\r\nc'), 'a<U+202E>b<U+000D><U+000A>c');
});

test('executableKind', () => {
  const pe = Buffer.alloc(0x100);
  pe.write('MZ');
  pe.writeUInt32LE(0x80, 0x3c);
  pe.write('PE\0\0', 0x80, 'latin1');
  assert.equal(executableKind(pe), 'Windows PE executable');
  assert.equal(executableKind(Buffer.from('MZ\0\0')), 'DOS/Windows executable (MZ)');
  const mz = Buffer.alloc(0x40);
  mz.write('MZ');
  mz.writeUInt32LE(0xffffff, 0x3c); // out of range PE offset: still MZ, never a crash
  assert.equal(executableKind(mz), 'DOS/Windows executable (MZ)');
  assert.equal(executableKind(Buffer.from([0x7f, 0x45, 0x4c, 0x46])), 'ELF executable');
  assert.equal(executableKind(Buffer.from([0xcf, 0xfa, 0xed, 0xfe])), 'Mach-O executable (64-bit)');
  assert.equal(executableKind(Buffer.from([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 3])), 'Mach-O universal binary');
  assert.equal(executableKind(Buffer.from([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 61])), undefined, 'Java class');
  assert.equal(executableKind(Buffer.from('MZ')), undefined, 'too short to judge');
  assert.equal(executableKind(Buffer.from('hello world')), undefined);
});

test('isZip and isOle', () => {
  assert.ok(isZip(Buffer.from('PK\x03\x04rest', 'latin1')));
  assert.ok(isZip(Buffer.from('PK\x05\x06', 'latin1')));
  assert.ok(!isZip(Buffer.from('PK')));
  assert.ok(isOle(Buffer.from('d0cf11e0a1b11ae1', 'hex')));
  assert.ok(!isOle(Buffer.from('d0cf11e0', 'hex')));
});

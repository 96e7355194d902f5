import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig, parseConfig } from './config.js';
import { splitHostPort } from './hosts.js';
import { CONFIG_TEMPLATE } from '../cli/config-template.js';
import { ShieldError } from './errors.js';

test('the init template validates and has one account per protocol', () => {
  const c = parseConfig(CONFIG_TEMPLATE, 'mailshield.yaml');
  assert.deepEqual(
    c.accounts.map((a) => a.protocol),
    ['pop3', 'imap', 'smtp'],
  );
  assert.equal(c.policy.client, 'auto');
  assert.equal(c.policy.upstream, 'balanced');
});

test('defaults: balanced upstream, auto client, builtin engine, tempfail', () => {
  const c = defaultConfig();
  assert.equal(c.policy.upstream, 'balanced');
  assert.equal(c.policy.client, 'auto');
  assert.deepEqual(c.scan.engines, ['builtin']);
  assert.equal(c.scan.onError, 'tempfail');
  assert.equal(c.actions.subjectPrefix, '[virus removed] ');
  assert.equal(c.pop3.keepInfectedOnServer, false);
});

function configError(text: string): string {
  try {
    parseConfig(text, '/etc/ms.yaml');
  } catch (e) {
    assert.ok(e instanceof ShieldError);
    assert.equal(e.code, 'MS_ERR_CONFIG_INVALID');
    return e.message;
  }
  assert.fail('expected a config error');
}

test('smtp.bareLineEndings: normalize by default, reject accepted, anything else refused with the path', () => {
  assert.equal(defaultConfig().smtp.bareLineEndings, 'normalize');
  assert.equal(parseConfig('smtp:\n  bareLineEndings: reject\n', 'x.yaml').smtp.bareLineEndings, 'reject');
  assert.match(configError('smtp:\n  bareLineEndings: allow\n'), /smtp\.bareLineEndings: expected .*normalize.*reject/);
});

test('an unknown key names the file and the key path', () => {
  const msg = configError('policy:\n  upstrem: strict\n');
  assert.match(msg, /\/etc\/ms\.yaml: unknown key policy\.upstrem/);
});

test('a bad value names the path, what was expected and what was found', () => {
  const msg = configError(
    'accounts:\n  - name: a\n    protocol: pop4\n    listen: 127.0.0.1:1995\n    clientTls: implicit\n    upstream: x:995\n    upstreamTls: implicit\n',
  );
  assert.match(msg, /accounts\[0\]\.protocol: expected .*pop3.*found string "pop4"/);
});

test('exception entries need a date and a known relaxation', () => {
  const msg = configError('policy:\n  exceptions:\n    - host: a\n      allow: [sha1-everything]\n      until: soon\n');
  assert.match(msg, /policy\.exceptions\[0\]\.allow\[0\]/);
  assert.match(msg, /policy\.exceptions\[0\]\.until: expected .*found string "soon"/);
});

test('YAML dates are accepted for exceptions', () => {
  const c = parseConfig('policy:\n  exceptions:\n    - host: a\n      allow: [tls1.0]\n      until: 2027-06-30\n', 'f');
  assert.equal(c.policy.exceptions[0]!.until, '2027-06-30');
});

test('duplicate listen addresses are refused', () => {
  const acc = (n: string) =>
    `  - name: ${n}\n    protocol: pop3\n    listen: 127.0.0.1:1995\n    clientTls: implicit\n    upstream: x:995\n    upstreamTls: implicit\n`;
  assert.match(configError(`accounts:\n${acc('a')}${acc('b')}`), /accounts\[1\]\.listen: .*also used by a/);
});

test('invalid YAML is a config error, not a crash', () => {
  assert.match(configError('accounts: [\n'), /not valid YAML/);
});

test('splitHostPort handles IPv6 brackets', () => {
  assert.deepEqual(splitHostPort('[::1]:995'), { host: '::1', port: 995 });
  assert.deepEqual(splitHostPort('pop.example.jp:995'), { host: 'pop.example.jp', port: 995 });
});

test('an alias to a missing anchor or an alias bomb is MS_ERR_CONFIG_INVALID, not a crash (found by fuzz/targets/config)', () => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
    .concat(
      Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(', ')}]`,
      ),
    )
    .join('\n');
  for (const text of ['dataDir: *nowhere\n', bomb]) {
    assert.throws(
      () => parseConfig(text, '/x/mailshield.yaml'),
      (e: unknown) =>
        e instanceof ShieldError && e.code === 'MS_ERR_CONFIG_INVALID' && /not valid YAML/.test(e.message),
    );
  }
});

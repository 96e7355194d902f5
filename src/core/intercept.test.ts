import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from './config.js';
import { checkDestination, chooseName, matchingDomain, profileForPort } from './intercept.js';
import { isShieldError } from './errors.js';

const ic = { domains: ['isp.test', 'gmail.com'], hosts: { '203.0.113.7': 'pop.isp.test' } };

test('the destination port names protocol and TLS mode', () => {
  assert.deepEqual(profileForPort(995), { protocol: 'pop3', tls: 'implicit' });
  assert.deepEqual(profileForPort(110), { protocol: 'pop3', tls: 'starttls' });
  assert.deepEqual(profileForPort(993), { protocol: 'imap', tls: 'implicit' });
  assert.deepEqual(profileForPort(143), { protocol: 'imap', tls: 'starttls' });
  assert.deepEqual(profileForPort(465), { protocol: 'smtp', tls: 'implicit' });
  assert.deepEqual(profileForPort(587), { protocol: 'smtp', tls: 'starttls' });
  assert.deepEqual(profileForPort(25), { protocol: 'smtp', tls: 'starttls' });
  assert.equal(profileForPort(443), null);
});

test('domain matching: the domain itself and names below it, never a suffix that is not a label', () => {
  assert.equal(matchingDomain('POP.ISP.TEST.', ic.domains), 'isp.test');
  assert.equal(matchingDomain('isp.test', ic.domains), 'isp.test');
  assert.equal(matchingDomain('evilisp.test', ic.domains), null);
  assert.equal(matchingDomain('isp.test.evil', ic.domains), null);
});

test('SNI inside domains is intercepted and must be confirmed by DNS unless hosts names that very server', () => {
  assert.deepEqual(chooseName({ ip: '192.0.2.1', port: 995 }, 'Pop.Isp.Test', ic), {
    kind: 'intercept',
    name: 'pop.isp.test',
    source: 'sni',
    needsDnsCheck: true,
  });
  assert.deepEqual(chooseName({ ip: '203.0.113.7', port: 995 }, 'pop.isp.test', ic), {
    kind: 'intercept',
    name: 'pop.isp.test',
    source: 'sni',
    needsDnsCheck: false,
  });
  // hosts vouches only for its own name: another listed name at that address still needs DNS.
  const other = chooseName({ ip: '203.0.113.7', port: 993 }, 'imap.isp.test', ic);
  assert.equal(other.kind === 'intercept' && other.needsDnsCheck, true);
});

test('a name outside domains is relayed untouched, and the reason says so', () => {
  const c = chooseName({ ip: '192.0.2.1', port: 993 }, 'imap.other.test', ic);
  assert.equal(c.kind, 'passthrough');
  assert.match(c.kind === 'passthrough' ? c.reason : '', /imap\.other\.test is not inside intercept\.domains/);
});

test('no SNI: the hosts entry names the server; without one the refusal explains what to add', () => {
  assert.deepEqual(chooseName({ ip: '203.0.113.7', port: 995 }, null, ic), {
    kind: 'intercept',
    name: 'pop.isp.test',
    source: 'hosts',
    needsDnsCheck: false,
  });
  const r = chooseName({ ip: '127.0.0.3', port: 995 }, null, ic);
  assert.equal(r.kind, 'refuse');
  if (r.kind !== 'refuse') return;
  assert.equal(r.error.code, 'MS_ERR_INTERCEPT_NO_NAME');
  assert.match(r.error.message, /127\.0\.0\.3:995/);
  assert.match(r.error.message, /intercept\.hosts: \{127\.0\.0\.3: /);
});

test('the destination must be an address the name resolves to', () => {
  const dst = { ip: '127.0.0.2', port: 995 };
  assert.equal(checkDestination(dst, 'pop.isp.test', ['10.0.0.1', '127.0.0.2']), null);
  assert.equal(checkDestination({ ip: '::ffff:127.0.0.2', port: 995 }, 'pop.isp.test', ['127.0.0.2']), null);
  const e = checkDestination(dst, 'pop.isp.test', ['10.0.0.1']);
  assert.equal(e?.code, 'MS_ERR_INTERCEPT_DESTINATION');
  assert.match(e?.message ?? '', /resolves to 10\.0\.0\.1/);
  assert.match(
    checkDestination(dst, 'pop.isp.test', null, 'ENOTFOUND')?.message ?? '',
    /could not be resolved \(ENOTFOUND\)/,
  );
});

test('config: intercept beside accounts: [] is valid; domains required; hosts must name listed servers', () => {
  const c = validateConfig({ accounts: [], intercept: { enabled: true, domains: ['ISP.test.'] } }, 'f.yaml');
  assert.deepEqual(c.intercept.domains, ['isp.test']);
  assert.deepEqual(c.intercept.ports, [110, 143, 465, 587, 993, 995]);
  assert.equal(c.intercept.listen, '127.0.0.1:10990');
  const bad = (intercept: unknown, re: RegExp) =>
    assert.throws(
      () => validateConfig({ intercept }, 'f.yaml'),
      (e: unknown) => isShieldError(e) && e.code === 'MS_ERR_CONFIG_INVALID' && re.test(e.message),
    );
  bad({ enabled: true }, /intercept\.domains: expected at least one mail domain/);
  bad({ enabled: true, domains: ['isp.test'], hosts: { 'not-an-ip': 'pop.isp.test' } }, /expected an IP address/);
  bad({ enabled: true, domains: ['isp.test'], hosts: { '10.0.0.1': 'pop.other.test' } }, /inside intercept\.domains/);
  bad({ enabled: true, domains: ['isp.test'], ports: [443] }, /intercept\.ports/);
  bad({ enabled: true, domains: ['isp.test'], listen: '127.0.0.1:995' }, /not itself intercepted/);
  bad({ enabled: true, domains: ['*.isp.test'] }, /domains\[0\]/);
  bad({ enabled: true, domains: ['isp.test'], gateway: { interface: 'eth1' } }, /LAN address or 0\.0\.0\.0/);
  const gw = { enabled: true, domains: ['isp.test'], gateway: { interface: 'eth1' }, listen: '0.0.0.0:10990' };
  assert.equal(validateConfig({ intercept: gw }, 'f.yaml').intercept.gateway?.interface, 'eth1');
});

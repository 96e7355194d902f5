import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installRules, listRules, removalScript, ruleset } from './nft.js';
import { findInConntrack, parseSockaddr } from './original-dst.js';

test('ruleset: one ip table, output nat at -100, mark exemption first, own listeners exempt, then the redirect', () => {
  const text = ruleset({
    family: 'ip',
    ports: [995, 143, 587],
    redirectPort: 10990,
    mark: 0x4d53,
    ownListeners: [
      { host: '127.0.0.1', port: 995 },
      { host: '127.0.0.1', port: 1995 },
      { host: '0.0.0.0', port: 587 },
    ],
  });
  assert.equal(
    text,
    [
      'table ip mailshield',
      'delete table ip mailshield',
      'table ip mailshield {',
      '  chain output {',
      '    type nat hook output priority -100; policy accept;',
      '    meta mark 0x00004d53 counter return comment "mailshield upstream sockets"',
      '    ip daddr 127.0.0.1 tcp dport 995 return comment "mailshield account listener"',
      '    fib daddr type local tcp dport 587 return comment "mailshield account listener"',
      '    tcp dport { 143, 587, 995 } counter redirect to :10990 comment "mailshield intercept"',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const gw = ruleset({
    family: 'ip6',
    ports: [993],
    redirectPort: 1,
    mark: 1,
    ownListeners: [],
    gatewayInterface: 'eth1',
  });
  assert.match(gw, /^table ip6 mailshield\n/);
  assert.match(
    gw,
    /chain prerouting \{\n {4}type nat hook prerouting priority -100; policy accept;\n {4}iifname "eth1" tcp dport \{ 993 \} counter redirect to :1/,
  );
  assert.equal(removalScript('ip'), 'table ip mailshield\ndelete table ip mailshield\n');
});

test('nft failures become MS_ERR_INTERCEPT_RULES with a fix; a missing table lists as null', async () => {
  const fail = (msg: string) => () => Promise.reject(new Error(msg));
  await assert.rejects(
    installRules(
      { family: 'ip', ports: [995], redirectPort: 1, mark: 1, ownListeners: [] },
      fail('Operation not permitted'),
    ),
    (e: Error & { code?: string }) => e.code === 'MS_ERR_INTERCEPT_RULES' && /CAP_NET_ADMIN/.test(e.message),
  );
  assert.equal(await listRules('ip', fail('Error: No such file or directory; did you mean table ...')), null);
  let script = '';
  await installRules({ family: 'ip', ports: [995], redirectPort: 7, mark: 1, ownListeners: [] }, (args, stdin) => {
    assert.deepEqual(args, ['-f', '-']);
    script = stdin ?? '';
    return Promise.resolve('');
  });
  assert.match(script, /redirect to :7/);
});

test('sockaddr_in and sockaddr_in6 decode (family host order, port network order)', () => {
  const v4 = Buffer.alloc(16);
  v4.writeUInt16LE(2, 0);
  v4.writeUInt16BE(995, 2);
  Buffer.from([127, 0, 0, 2]).copy(v4, 4);
  assert.deepEqual(parseSockaddr(v4), { ip: '127.0.0.2', port: 995 });
  const v6 = Buffer.alloc(28);
  v6.writeUInt16LE(10, 0);
  v6.writeUInt16BE(993, 2);
  v6.writeUInt16BE(0x2001, 8);
  v6.writeUInt16BE(0xdb8, 10);
  v6.writeUInt16BE(1, 22);
  assert.deepEqual(parseSockaddr(v6), { ip: '2001:db8::1', port: 993 });
  assert.equal(parseSockaddr(Buffer.alloc(16)), null);
});

test('conntrack fallback finds the original destination by the reply tuple', () => {
  const text = [
    'ipv4     2 udp      17 20 src=127.0.0.1 dst=127.0.0.53 sport=1 dport=53 src=127.0.0.53 dst=127.0.0.1 sport=53 dport=1 mark=0',
    'ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.9 sport=40001 dport=993 src=127.0.0.1 dst=127.0.0.1 sport=10990 dport=40001 [ASSURED] mark=0 zone=0 use=2',
    'ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.2 sport=40000 dport=995 src=127.0.0.1 dst=127.0.0.1 sport=10990 dport=40000 [ASSURED] mark=0 zone=0 use=2',
  ].join('\n');
  const c = { clientIp: '127.0.0.1', clientPort: 40000, localIp: '127.0.0.1', localPort: 10990 };
  assert.deepEqual(findInConntrack(text, c), { ip: '127.0.0.2', port: 995 });
  assert.equal(findInConntrack(text, { ...c, clientPort: 40002 }), null);
  // IPv6 entries spell addresses fully expanded.
  const z = '0000:0000:0000:0000:0000:0000:0000:0001';
  const v6 = `ipv6     10 tcp      6 431999 ESTABLISHED src=${z} dst=2001:0db8:0000:0000:0000:0000:0000:0007 sport=34708 dport=993 src=${z} dst=${z} sport=10990 dport=34708 [ASSURED] mark=0 zone=0 use=2`;
  assert.deepEqual(findInConntrack(v6, { clientIp: '::1', clientPort: 34708, localIp: '::1', localPort: 10990 }), {
    ip: '2001:db8::7',
    port: 993,
  });
  // A v4-mapped socket address matches a plain IPv4 entry.
  assert.deepEqual(findInConntrack(text, { ...c, clientIp: '::ffff:127.0.0.1', localIp: '::ffff:127.0.0.1' }), {
    ip: '127.0.0.2',
    port: 995,
  });
});

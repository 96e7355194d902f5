import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../core/config.js';
import { cliInvocation } from '../cli/start-command.js';
import { demoCommands, renderBanner, shellQuote, type BannerInput } from './banner.js';
import { DEMO_PORTS, demoConfig, demoConfigYaml } from './config.js';

const ep = (port: number) => ({ host: '127.0.0.1', port });
const input: BannerInput = {
  cli: 'npx mailshield',
  shieldCaPath: '/home/ann/mail shield/.mailshield/ca/ca.pem',
  demoCaPath: '/home/ann/mail shield/.mailshield/demo/demo-ca.pem',
  configPath: '/home/ann/mail shield/.mailshield/demo/mailshield.demo.yaml',
  shield: { pop3: ep(11995), ispPop3: ep(11996), smtp: ep(11587) },
  upstream: { pop3: ep(21995), ispPop3: ep(40001), smtp: ep(21587) },
  upstreamPolicy: 'balanced',
};

test('shellQuote leaves plain words alone and single-quotes the rest', () => {
  assert.equal(shellQuote('/a/b-c.pem'), '/a/b-c.pem');
  assert.equal(shellQuote('/a b/c'), "'/a b/c'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
});

test('the banner shows where everything runs and commands built from the bound ports and quoted paths', () => {
  const text = renderBanner(input);
  const c = demoCommands(input);
  assert.equal(
    c.curlEicar,
    "curl --cacert '/home/ann/mail shield/.mailshield/ca/ca.pem' --user demo:demo pop3s://127.0.0.1:11995/3",
  );
  assert.equal(c.quarantineList, 'npx mailshield quarantine list');
  assert.equal(
    c.probeIsp,
    "npx mailshield probe 127.0.0.1:40001 --servername pop.isp.test --ca '/home/ann/mail shield/.mailshield/demo/demo-ca.pem'",
  );
  assert.match(c.curlSend, /--ssl-reqd .* smtp:\/\/127\.0\.0\.1:11587$/);
  const dollarLines = text.split('\n').filter((l) => /^\s+\$ /.test(l));
  assert.deepEqual(
    dollarLines.map((l) => l.replace(/^\s+\$ /, '')),
    [c.curlEicar, c.quarantineList, c.probeIsp, c.curlSend],
  );
  assert.match(text, /127\.0\.0\.1:11996 +→ pop\.isp\.test \(127\.0\.0\.1:40001\), accepted with a SHA-1 warning/);
  assert.match(text, /npx mailshield init\n/);
  assert.ok(text.includes(input.shieldCaPath) && text.includes(input.configPath));
  assert.ok(text.split('\n').length < 45, 'short');
});

test('the demo configuration is a valid config, and its YAML parses back to the same accounts', () => {
  const i = {
    dataDir: '/x/.mailshield',
    demoCaPath: '/x/.mailshield/demo/demo-ca.pem',
    listen: DEMO_PORTS.shield,
    upstream: DEMO_PORTS.upstream,
  };
  const cfg = demoConfig(i);
  assert.equal(cfg.policy.upstream, 'balanced', 'the default policy');
  assert.deepEqual(
    cfg.accounts.map((a) => [a.name, a.protocol, a.listen, a.upstream, a.upstreamServername, a.clientTls]),
    [
      ['demo-pop3', 'pop3', '127.0.0.1:11995', '127.0.0.1:21995', 'mail.demo.test', 'implicit'],
      ['isp-pop3', 'pop3', '127.0.0.1:11996', '127.0.0.1:21996', 'pop.isp.test', 'implicit'],
      ['demo-smtp', 'smtp', '127.0.0.1:11587', '127.0.0.1:21587', 'mail.demo.test', 'starttls'],
    ],
  );
  const back = parseConfig(demoConfigYaml(i), 'demo.yaml');
  assert.deepEqual(back, cfg);
});

test('cliInvocation: npx inside the package folder, the bare name from PATH, else node and the script path', () => {
  const root = mkdtempSync(join(tmpdir(), 'mailshield cli '));
  mkdirSync(join(root, 'bin'));
  writeFileSync(join(root, 'package.json'), '{}');
  const script = join(root, 'bin', 'mailshield.js');
  assert.equal(cliInvocation(script, root), 'npx mailshield');
  assert.equal(cliInvocation(script, tmpdir()), `node '${script}'`);
  assert.equal(cliInvocation('/usr/local/bin/mailshield', tmpdir()), 'mailshield');
});

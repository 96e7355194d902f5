// doctor's CA-names row: a CA made before intercept.domains changed must be rotated and trusted again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../src/core/config.js';
import { checkCaNames } from '../src/io/intercept/doctor-checks.js';
import { caPermittedNames } from '../src/tls/ca-names.js';
import { loadOrCreateCa, rotateCa } from '../src/store/ca-files.js';
import { tmpDir } from './fixtures/util.js';

const cfg = (domains: string[]) =>
  validateConfig({ accounts: [], intercept: { enabled: true, domains } }, 'mailshield.yaml');

test('doctor says the CA must be rotated when intercept.domains changed, and is content after rotating', async () => {
  const dataDir = tmpDir('mailshield-ca-drift-');
  const now = new Date();
  await loadOrCreateCa({ dataDir, permittedNames: caPermittedNames(cfg(['isp.test', 'old.test'])), now });
  const changed = cfg(['isp.test', 'gmail.com']);
  const [row] = await checkCaNames(dataDir, changed);
  assert.equal(row?.status, 'WARN');
  assert.match(row?.detail ?? '', /does not permit gmail\.com/);
  assert.match(row?.detail ?? '', /still permits old\.test/);
  assert.match(row?.fix ?? '', /mailshield ca rotate/);
  await rotateCa({ dataDir, permittedNames: caPermittedNames(changed), now });
  assert.equal((await checkCaNames(dataDir, changed))[0]?.status, 'OK');
});

// Doctor rows for intercept mode and the CA it depends on. Leaves for intercepted servers carry the real server
// names, so the CA's name constraints must match the configuration exactly; a CA made before intercept.domains (or
// ca.extraNames) changed either cannot vouch for a new name or still vouches for a dropped one.
import 'reflect-metadata';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import type { Config } from '../../core/config.js';
import { CA_CERT_FILE } from '../../store/ca-files.js';
import { caNamesDrift, caPermittedNames, readPermitted } from '../../tls/ca-names.js';
import type { LocalCheck } from '../doctor-local.js';
import { hasCommand } from './system.js';

export async function checkCaNames(dataDir: string, config: Config): Promise<LocalCheck[]> {
  const pem = await readFile(join(dataDir, 'ca', CA_CERT_FILE), 'utf8').catch(() => null);
  if (pem === null) return []; // checkCa already says there is no CA yet
  let permitted;
  try {
    permitted = readPermitted(new x509.X509Certificate(pem));
  } catch (e) {
    return [
      {
        check: 'CA names',
        status: 'WARN',
        detail: `cannot read the CA certificate's name constraints: ${String(e)}`,
        fix: 'mailshield ca rotate',
      },
    ];
  }
  const { missing, extra } = caNamesDrift(permitted, caPermittedNames(config));
  if (missing.length === 0 && extra.length === 0)
    return [{ check: 'CA names', status: 'OK', detail: 'the name constraints match the configuration', fix: null }];
  const parts = [];
  if (missing.length) parts.push(`does not permit ${missing.join(', ')} (leaves for these names would not verify)`);
  if (extra.length) parts.push(`still permits ${extra.join(', ')}, which the configuration no longer lists`);
  return [
    {
      check: 'CA names',
      status: 'WARN',
      detail: `the CA's name constraints no longer match the configuration: it ${parts.join(' and ')}`,
      fix: 'the CA must be rotated: run `mailshield ca rotate`, then trust the new CA again (`mailshield ca install`, and in Thunderbird)',
    },
  ];
}

export function checkIntercept(config: Config): LocalCheck[] {
  if (!config.intercept.enabled) return [];
  const check = 'intercept mode';
  if (process.platform !== 'linux')
    return [{ check, status: 'FAIL', detail: 'intercept mode works on Linux only', fix: 'disable intercept' }];
  if (!hasCommand('nft'))
    return [{ check, status: 'FAIL', detail: 'the nft command is missing', fix: 'apt-get install nftables' }];
  if (process.getuid?.() !== 0)
    return [
      {
        check,
        status: 'WARN',
        detail: 'not running as root: installing nftables rules and marking sockets need CAP_NET_ADMIN',
        fix: 'run mailshield start as root, or grant it CAP_NET_ADMIN',
      },
    ];
  return [{ check, status: 'OK', detail: `nft present; ports ${config.intercept.ports.join(', ')}`, fix: null }];
}

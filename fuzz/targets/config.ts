// The config loader: a malformed mailshield.yaml. It either loads or stops with one MS_ERR_CONFIG_INVALID naming the
// file; never another exception, never a reply text that spans lines.
import { parseConfig } from '../../src/core/config.js';
import { isShieldError } from '../../src/core/errors.js';
import { check, type Target } from '../target.js';

const target: Target = {
  name: 'config',
  focus: ['src/core/config.ts'],
  maxLen: 4096,
  tokens: [
    '\n',
    ': ',
    '- ',
    '  ',
    'accounts:\n',
    '  - name: a\n',
    '    protocol: pop3\n',
    '    listen: 127.0.0.1:1995\n',
    '    upstream: pop.example.jp:995\n',
    'policy:\n',
    '  exceptions:\n',
    'until: 2027-02-30',
    '&a',
    '*a',
    '<<: *a',
    '!!binary',
    '{',
    '[',
    '"',
    "'",
    '|',
    '>',
    '~',
    'null',
    '0x10',
    '1e999',
    '---\n',
    '...\n',
    '%YAML 1.2\n',
  ],
  run(input) {
    try {
      parseConfig(input.toString('utf8'), '/etc/mailshield/mailshield.yaml');
    } catch (e) {
      check(isShieldError(e), `config loader threw a non-ShieldError: ${e instanceof Error ? e.stack : String(e)}`);
      check(e.code === 'MS_ERR_CONFIG_INVALID', `config refusal with code ${e.code}`);
      check(e.message.includes('/etc/mailshield/mailshield.yaml'), 'config refusal does not name the file');
      check(!/[\r\n]/.test(e.toReplyText()), 'reply text spans lines');
    }
  },
};
export default target;

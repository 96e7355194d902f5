// Workloads 1-4: a client moves a known number of bytes through each target; wall time per run, targets alternated.
import { TARGETS, USERS, PASS, type Env, type Proto, type Target } from './env.js';
import { imapFetch, imapPartials, pop3Download, smtpSubmit } from './flows.js';
import { alternate, type Samples, type Skip } from './stats.js';
import type { TlsTarget } from './wire.js';

export interface TimedRow {
  id: string;
  title: string;
  /** Payload bytes one run moves. */
  bytes: number;
  results: Map<Target, Samples | Skip>;
}

type User = (typeof USERS)[number];

interface Spec {
  id: string;
  title: string;
  proto: Proto;
  bytes: number;
  /** Payload must arrive whole: a shorter count fails the run. */
  run: (t: TlsTarget) => Promise<number>;
}

const login = (user: User) => ({ user, pass: PASS });

function specs(env: Env): Spec[] {
  const { plan } = env;
  const w1 = plan.w1.messages;
  const kb = (n: number) => `${Math.round(n / 1024)} KB`;
  const mb = (n: number) => `${Math.round(n / (1024 * 1024))} MB`;
  return [
    {
      id: 'W1',
      title: `POP3 download: ${w1} × ~${kb(plan.w1.size)} (RETR one at a time)`,
      proto: 'pop3',
      bytes: w1 * plan.w1.size,
      run: (t) => pop3Download(t, login('w1'), w1),
    },
    {
      id: 'W2a',
      title: `POP3 RETR of one ~${mb(plan.w2.size)} message`,
      proto: 'pop3',
      bytes: plan.w2.size,
      run: (t) => pop3Download(t, login('w2'), 1),
    },
    {
      id: 'W2b',
      title: `IMAP FETCH BODY[] of one ~${mb(plan.w2.size)} message`,
      proto: 'imap',
      bytes: plan.w2.size,
      run: (t) => imapFetch(t, login('w2'), '1', 'BODY[]'),
    },
    {
      id: 'W3a',
      title: `IMAP FETCH 1:${w1} (BODY.PEEK[]), ~${kb(plan.w1.size)} each, one command`,
      proto: 'imap',
      bytes: w1 * plan.w1.size,
      run: (t) => imapFetch(t, login('w1'), `1:${w1}`, 'BODY.PEEK[]'),
    },
    {
      id: 'W3b',
      title: `IMAP partial fetches BODY.PEEK[]<off.${kb(plan.w3.chunk)}> of a ~${mb(plan.w3.partialSize)} message`,
      proto: 'imap',
      bytes: plan.w3.partialSize,
      run: (t) => imapPartials(t, login('w3p'), plan.w3.partialSize, plan.w3.chunk),
    },
    {
      id: 'W4',
      title: `SMTP submission: ${plan.w4.messages} × ${kb(plan.w4.size)} (AUTH, one transaction each)`,
      proto: 'smtp',
      bytes: plan.w4.messages * env.smtpMessage.length,
      run: (t) =>
        smtpSubmit(
          t,
          { user: env.postfix.user, pass: env.postfix.password },
          env.postfix.user,
          plan.w4.messages,
          env.smtpMessage,
        ),
    },
  ];
}

/** Messages are generated to ±1 KB of the planned size; allow that per message. */
function checkBytes(got: number, want: number, slack: number): void {
  if (Math.abs(got - want) > slack) throw new Error(`moved ${got} bytes, expected about ${want}`);
}

export async function runThroughput(
  env: Env,
  log: (s: string) => void,
  want: (id: string) => boolean = () => true,
): Promise<TimedRow[]> {
  const rows: TimedRow[] = [];
  for (const s of specs(env).filter((x) => want(x.id))) {
    log(`${s.id}: ${s.title}`);
    const runnable = TARGETS.filter((t) => !('skip' in env.target(t, s.proto)));
    const slack = 2048 * Math.max(1, Math.ceil(s.bytes / env.plan.w1.size));
    const samples = await alternate(runnable, env.plan.reps, async (t) => {
      const tt = env.target(t, s.proto) as TlsTarget;
      const t0 = performance.now();
      const got = await s.run(tt);
      const ms = performance.now() - t0;
      checkBytes(got, s.bytes, slack);
      return ms;
    });
    const results = new Map<Target, Samples | Skip>();
    for (const t of TARGETS) {
      const tt = env.target(t, s.proto);
      results.set(t, 'skip' in tt ? tt : samples.get(t)!);
    }
    rows.push({ id: s.id, title: s.title, bytes: s.bytes, results });
  }
  return rows;
}

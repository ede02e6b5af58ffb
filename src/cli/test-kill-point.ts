/**
 * A test-only hook: `RUNBOOK_TEST_KILL_AT=<point>:<host>` makes the controller SIGKILL itself at a
 * named point, so that tests can kill it exactly there (during a fix, between a fix and its verify,
 * while the lock is being taken) and check what the audit trail and the hosts say afterwards.
 * It is honoured only when RUNBOOK_TEST_HOOKS=1 is set too (the lab tests set both), and says so
 * on stderr when it is armed.
 *
 *   <phase>-start  the phase's command was announced and sent (the kill comes 500 ms later, while
 *                  it runs; RUNBOOK_TEST_KILL_DELAY_MS changes that)
 *   <phase>-end    its outcome was recorded, before anything else happens on that host
 *   lock           short for lock-start
 * with <phase> one of check, fix, verify, lock, unlock, kill.
 */
import type { RunEventListener } from '../engine/events.js';

export function testKillPoint(env: NodeJS.ProcessEnv, warn: (line: string) => void): RunEventListener | undefined {
  const spec = env.RUNBOOK_TEST_KILL_AT;
  if (!spec || env.RUNBOOK_TEST_HOOKS !== '1') return undefined;
  const m = /^(check|fix|verify|lock|unlock|kill)(?:-(start|end))?:(.+)$/.exec(spec);
  if (!m) {
    warn(`runbook: test hook: RUNBOOK_TEST_KILL_AT=${spec} is not <phase>-start|end:<host>; ignored`);
    return undefined;
  }
  const [, phase, when = 'start', host] = m;
  const delay = Number(env.RUNBOOK_TEST_KILL_DELAY_MS ?? 500);
  warn(`runbook: test hook: will SIGKILL itself at ${phase}-${when}:${host}`);
  let armed = true;
  const die = (): void => void process.kill(process.pid, 'SIGKILL');
  return (e) => {
    if (!armed || (e.type !== 'command-start' && e.type !== 'command') || e.phase !== phase || e.host !== host) return;
    if (when === 'start' && e.type === 'command-start') {
      armed = false;
      setTimeout(die, delay);
    } else if (when === 'end' && e.type === 'command') {
      armed = false;
      die();
    }
  };
}

/**
 * `max_failures` / `--max-failures`: a listener on the event stream that stops the run once the
 * number of failed hosts reaches the limit. A host fails at its first failed, unreachable, unknown
 * or interrupted step (a host another run has locked fails too). Listeners run synchronously as
 * each result is emitted, so the stop lands before any host starts its next step: nothing new
 * starts anywhere, steps in progress finish, and the recap says why.
 */
import type { RunEvent, RunEventListener } from './events.js';
import type { RunControl } from './control.js';
import { isFailed } from './status.js';
import { resolveCount, type CountSpec } from './rollout.js';


/** `total`: the run's hosts, for a percentage. The limit is at least 1: a run never stops before a failure. */
export function failureLimit(spec: CountSpec, total: number, control: RunControl): RunEventListener {
  const limit = Math.max(1, resolveCount(spec, total));
  const failed: string[] = [];
  return (e: RunEvent) => {
    if (e.type !== 'step-result' || !isFailed(e.status) || failed.includes(e.host)) return;
    failed.push(e.host);
    if (failed.length >= limit && !control.stopping) {
      const shown = failed.length > 5 ? `${failed.slice(0, 5).join(', ')}, …` : failed.join(', ');
      control.stop(`max_failures (${spec}) reached: ${failed.length} of ${total} host${total === 1 ? '' : 's'} failed (${shown}); no new step was started on any host`, {
        byOperator: false,
      });
    }
  };
}

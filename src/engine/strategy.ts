/**
 * A strategy decides which hosts run when; it knows nothing of what a step does. The default runs
 * every host concurrently up to `forks`, each host keeping its own step order. Rollout control
 * (serial batches, canary, max_failures) is another Strategy over the same runHost.
 */
import pLimit from 'p-limit';
import type { RunControl } from './control.js';
import type { HostOutcome } from './host-run.js';
import type { HostPlan } from './plan.js';

export type RunOneHost = (hp: HostPlan) => Promise<HostOutcome>;

export interface Strategy {
  run(hosts: HostPlan[], runOne: RunOneHost, control: RunControl): Promise<HostOutcome[]>;
}

/**
 * Connection set-up (key exchange) is the controller's main CPU cost and runs on one thread, so
 * more forks than this mostly add queued handshakes and memory; fewer leave hosts idle while a
 * slow one works. `npm run bench` measures the effect.
 */
export const DEFAULT_FORKS = 50;

export function parallelStrategy(forks = DEFAULT_FORKS): Strategy {
  return {
    run(hosts, runOne) {
      const limit = pLimit(Math.max(1, forks));
      // Results keep inventory order whatever order the hosts finish in.
      return Promise.all(hosts.map((hp) => limit(() => runOne(hp))));
    },
  };
}

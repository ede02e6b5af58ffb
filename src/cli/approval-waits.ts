/**
 * Tells the notifier when an approval waits on the operator: once when a step's first prompt
 * opens, then every `everyMs` while a prompt stays open, with how many hosts wait on that step and
 * for how long.
 * The prompter is wrapped (it opens only when a human is really asked, not for "all" answers),
 * and so is the gate (it sees every host that queues behind the prompt).
 */
import type { ApprovalGate, Prompter } from '../engine/index.js';
import type { ApprovalWait } from '../report/notify.js';

export const WAIT_NOTICE_EVERY_MS = 10 * 60_000;

export function announceWaits(makeGate: (prompter: Prompter) => ApprovalGate, prompter: Prompter, tell: (w: ApprovalWait) => void, everyMs = WAIT_NOTICE_EVERY_MS): ApprovalGate {
  const waiting = new Map<number, number>();
  // One notice per step when its first prompt opens, not one per host asked (50 hosts answered one
  // by one would be 50 posts, and a webhook's rate limit); the repeats say the wait goes on.
  const announced = new Set<number>();
  const watched: Prompter = async (req, signal) => {
    const started = Date.now();
    const send = (): void => tell({ step: req.step, host: req.host, hostsWaiting: waiting.get(req.stepIndex) ?? 1, waitedMs: Date.now() - started });
    if (!announced.has(req.stepIndex)) {
      announced.add(req.stepIndex);
      send();
    }
    const timer = setInterval(send, everyMs);
    timer.unref();
    try {
      return await prompter(req, signal);
    } finally {
      clearInterval(timer);
    }
  };
  const gate = makeGate(watched);
  return {
    asks: gate.asks,
    async decide(req) {
      waiting.set(req.stepIndex, (waiting.get(req.stepIndex) ?? 0) + 1);
      try {
        return await gate.decide(req);
      } finally {
        waiting.set(req.stepIndex, waiting.get(req.stepIndex)! - 1);
      }
    },
  };
}

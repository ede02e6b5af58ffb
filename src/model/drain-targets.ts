/**
 * A disruptive step drains its host's Kubernetes node (engine/node-drain.ts), and runbook knows
 * which node that is only for a host taken from the cluster (an inventory's `kubernetes:`): a host
 * name that happens to match a node's is a guess, and draining the wrong node is harm. Before any
 * host is touched, a run with disruptive steps on other hosts stops here, naming them (validate -i,
 * show --hosts and apply alike: render-check.ts).
 */
import type { Problem } from './errors.js';
import type { Host, Runbook } from './types.js';

export function disruptiveSteps(runbook: Pick<Runbook, 'steps' | 'handlers'>): string[] {
  return [...runbook.steps, ...runbook.handlers].filter((s) => s.disruptive).map((s) => s.name);
}

export function drainTargetProblems(runbook: Runbook, hosts: readonly Host[]): Problem[] {
  const unknown = hosts.filter((h) => !h.kubeNode).map((h) => h.name);
  if (unknown.length === 0) return [];
  const shown = unknown.length > 5 ? `${unknown.slice(0, 5).join(', ')} and ${unknown.length - 5} more` : unknown.join(', ');
  return [...runbook.steps, ...runbook.handlers]
    .filter((s) => s.disruptive)
    .map((s) => ({
      pos: s.pos,
      message: `step "${s.name}" is disruptive (its node is drained before the fix), and ${shown} ${unknown.length === 1 ? 'is' : 'are'} no Kubernetes node runbook knows: only hosts from an inventory's kubernetes: are`,
      hint: 'take the hosts from the cluster (kubernetes: in the inventory, docs/formats.md), or pass --no-drain to fix with the pods in place',
    }));
}

/**
 * What a host was planned against, as one digest: how it is reached, every command of every step
 * as rendered for it (masked: the vars each command uses are in there), and the values its `when:`
 * conditions read. `apply --plan` computes it again from today's runbook, inventory and --var; a
 * different digest means the plan no longer describes what would run. Secrets stay out: commands
 * are compared in their masked form, and condition values are masked before hashing.
 */
import { createHash } from 'node:crypto';
import type { ConditionNode } from '../model/condition.js';
import type { FleetBindings } from './bindings.js';
import type { HostPlan, Plan, PlannedStep } from './plan.js';
import type { Redact } from './sanitize.js';

/** The paths a condition reads (registered values excluded: they exist only at run time). */
function conditionPaths(node: ConditionNode | undefined, out: string[][] = []): string[][] {
  if (!node) return out;
  switch (node.kind) {
    case 'path':
    case 'defined':
      out.push(node.path);
      break;
    case 'list':
      node.items.forEach((n) => conditionPaths(n, out));
      break;
    case 'len':
    case 'not':
      conditionPaths(node.arg, out);
      break;
    case 'and':
    case 'or':
    case 'compare':
      conditionPaths(node.left, out);
      conditionPaths(node.right, out);
      break;
    default:
      break;
  }
  return out;
}

/** One step of one host as the plan saw it: the fields that decide what runs there. */
function plannedStepFacts(ps: PlannedStep): Record<string, unknown> {
  return {
    index: ps.index,
    name: ps.name,
    elsewhere: ps.elsewhere ?? false,
    become: ps.become,
    needs: ps.needs,
    check: ps.check.display,
    fix: ps.fix.map((f) => f.display),
    verify: ps.verify.display,
    files: ps.files.map((f) => [f.path.display, f.sensitive]),
    snapshot: ps.snapshot.map((c) => c.display),
    preview: ps.preview?.display ?? null,
    undo: ps.undo?.display ?? null,
    when: ps.source.when?.text ?? null,
    // Only when set, so plans saved before local steps existed keep their digest.
    ...(ps.source.local ? { local: true } : {}),
    // A disruptive step's drain: --no-drain, or another node, kubeconfig or timeout, is another plan.
    ...(ps.drain ? { drain: [ps.drain.schedulable.display, ps.drain.mark.display, ps.drain.drain.display, ps.drain.uncordon.display] } : {}),
  };
}

export function hostIdentity(hp: HostPlan, plan: Plan, bindings: FleetBindings, redact: Redact): string {
  const deps = [...plan.deps.steps, ...plan.deps.handlers];
  const noneRegistered = { own: {}, byHost: new Map(), targets: [] };
  const whenValues = (ps: PlannedStep): string[] => {
    const d = deps[ps.index];
    const registered = new Set((d?.registeredPaths ?? []).map((p) => p.join('.')));
    return conditionPaths(d?.condition)
      .filter((p) => !registered.has(p.join('.')))
      .map((p) => `${p.join('.')}=${redact(JSON.stringify(bindings.lookup(hp.host, p, noneRegistered)) ?? 'undefined')}`);
  };
  const h = hp.host;
  const facts = {
    host: { name: h.name, address: h.address, port: h.port, user: h.user, connection: h.connection, proxyJump: h.proxyJump ?? null },
    become: plan.become ?? false,
    steps: [...hp.steps, ...(hp.handlers ?? [])].map((ps) => ({ ...plannedStepFacts(ps), whenValues: whenValues(ps) })),
  };
  return createHash('sha256').update(JSON.stringify(facts)).digest('hex');
}

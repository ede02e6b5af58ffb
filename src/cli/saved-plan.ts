/**
 * Saved plans on the CLI's side: the file `runbook plan` writes (from the engine's plan and what
 * the dry run found), and the checks `apply --plan` makes before anything connects: the same
 * runbook, hosts within the plan, and each host planned against what it is today.
 */
import { REMAKE_PLAN, UserError, type Host, type Inventory, type PlanBody, type PlanFile, type PlannedStepFile, type Runbook } from '../model/index.js';
import type { Plan, PlannedStep } from '../engine/plan.js';
import type { PlanRecorder } from '../report/plan-recorder.js';

function stepFile(host: string, ps: PlannedStep, rec: PlanRecorder): PlannedStepFile {
  const r = rec.step(host, ps.index);
  return {
    index: ps.index,
    name: ps.name,
    status: r?.status ?? 'not-run',
    ...(r?.reason !== undefined ? { reason: r.reason } : {}),
    ...(r?.checkOutput !== undefined ? { checkOutput: r.checkOutput } : {}),
    check: ps.check.display,
    fix: ps.fix.map((f) => f.display),
    verify: ps.verify.display,
    ...(ps.deferred ? { deferred: true as const } : {}),
    ...(r?.fixCommands !== undefined ? { fixCommands: r.fixCommands } : {}),
    ...(r?.verifyCommand !== undefined ? { verifyCommand: r.verifyCommand } : {}),
    ...(r?.commandsDigest !== undefined ? { commandsDigest: r.commandsDigest } : {}),
    drift: ps.source.drift ?? { kind: 'output' },
    ...(r?.print ? { print: r.print } : {}),
  };
}

export function savedPlanBody(
  plan: Plan,
  rec: PlanRecorder,
  meta: { identities: ReadonlyMap<string, string>; by: string; at: Date; ttlMs: number; inventory: string; runId: string },
): PlanBody {
  return {
    planVersion: plan.planVersion,
    runbook: { name: plan.runbook.name, file: plan.runbook.file, hash: plan.runbook.hash },
    planned: { by: meta.by, at: meta.at.toISOString(), expires: new Date(meta.at.getTime() + meta.ttlMs).toISOString(), runId: meta.runId },
    inventory: meta.inventory,
    ...(plan.become ? { become: true } : {}),
    hosts: plan.hosts.map((hp) => ({
      name: hp.host.name,
      address: hp.host.address,
      port: hp.host.port,
      user: hp.host.user,
      identity: meta.identities.get(hp.host.name)!,
      steps: hp.steps.map((ps) => stepFile(hp.host.name, ps, rec)),
      ...(hp.handlers ? { handlers: hp.handlers.map((ps) => stepFile(hp.host.name, ps, rec)) } : {}),
    })),
  };
}

const REMAKE = `${REMAKE_PLAN}, review and sign it again`;

/** The runbook must be the one planned, byte for byte. */
export function checkPlanRunbook(file: string, saved: PlanFile, runbook: Runbook): void {
  const want = saved.body.runbook;
  if (runbook.hash !== want.hash) {
    throw new UserError({
      message: `${file}: runbook ${want.name} (${runbook.file}) changed since plan ${saved.id} was made (sha256 ${runbook.hash.slice(0, 12)}, planned ${want.hash.slice(0, 12)})`,
      hint: REMAKE,
    });
  }
}

/** The plan's hosts from this inventory, narrowed by `--hosts` (`narrow`), never widened. */
export function planTargets(file: string, saved: PlanFile, inventory: Inventory, narrow: Host[] | undefined): Host[] {
  const planned = saved.body.hosts.map((h) => h.name);
  const missing = planned.filter((n) => !inventory.hosts.some((h) => h.name === n));
  if (missing.length) {
    throw new UserError({ message: `${file}: plan ${saved.id} is for ${missing.join(', ')}, which the inventory ${inventory.file} does not have`, hint: 'use the inventory the plan was made with (-i), or make a new plan' });
  }
  if (!narrow) return inventory.hosts.filter((h) => planned.includes(h.name));
  const extra = narrow.filter((h) => !planned.includes(h.name)).map((h) => h.name);
  if (extra.length) {
    throw new UserError({ message: `--hosts would widen plan ${saved.id} to ${extra.join(', ')}, which it was not made for (planned: ${planned.join(', ')})`, hint: '--hosts may only narrow a plan; make a new plan for other hosts' });
  }
  return narrow;
}

/** The first difference between a planned step and today's rendering of it, or undefined. */
function stepDifference(ps: PlannedStep, p: PlannedStepFile | undefined): string | undefined {
  const now = { check: ps.check.display, fix: ps.fix.map((f) => f.display).join('\n'), verify: ps.verify.display, drift: JSON.stringify(ps.source.drift ?? { kind: 'output' }) };
  const then = p ? { check: p.check, fix: p.fix.join('\n'), verify: p.verify, drift: JSON.stringify(p.drift) } : undefined;
  const field = (['check', 'fix', 'verify', 'drift'] as const).find((k) => then?.[k] !== now[k]);
  return field ? `step "${ps.name}": its ${field} is now \`${now[field]}\`, planned \`${then?.[field] ?? '(none)'}\`` : undefined;
}

/**
 * Each target against the plan: every command the reviewer read must be today's rendering of it
 * (whatever the plan's own digests say: anyone can rehash a plan), then the host's identity
 * (connection, become, needs, on:, the values when: reads). The first difference is named.
 */
export function checkPlanIdentities(file: string, saved: PlanFile, plan: Plan, identities: ReadonlyMap<string, string>): void {
  if (Boolean(saved.body.become) !== Boolean(plan.become)) {
    throw new UserError({ message: `${file}: plan ${saved.id} was made ${saved.body.become ? 'with' : 'without'} --become, and this apply is ${plan.become ? 'with' : 'without'} it`, hint: `give --become exactly as the plan was made, or ${REMAKE}` });
  }
  for (const hp of plan.hosts) {
    const was = saved.body.hosts.find((h) => h.name === hp.host.name)!;
    const h = hp.host;
    const wasSteps = [...was.steps, ...(was.handlers ?? [])];
    let what: string | undefined;
    for (const ps of [...hp.steps, ...(hp.handlers ?? [])]) if ((what = stepDifference(ps, wasSteps.find((s) => s.index === ps.index)))) break;
    if (!what && wasSteps.length !== hp.steps.length + (hp.handlers?.length ?? 0)) what = 'the runbook has another number of steps';
    if (!what && (h.address !== was.address || h.port !== was.port || h.user !== was.user)) what = `it is now reached as ${h.user}@${h.address}:${h.port}, planned ${was.user}@${was.address}:${was.port}`;
    if (!what && identities.get(hp.host.name) !== was.identity) what = "how it is reached (connection, ProxyJump), a step's become, needs or on:, or a value a when: condition reads differs";
    if (what) throw new UserError({ message: `${file}: ${h.name} is not what plan ${saved.id} was made against: ${what}`, hint: `the runbook, the inventory or --var differ from the plan's; ${REMAKE}` });
  }
}

/**
 * Change control: `runbook plan NAME -o plan.json` (a dry run saved as a plan), `runbook show
 * --plan plan.json` (the plan as its dry run printed it), and `runbook sign plan.json` (an
 * approval, signed with the operator's SSH key). `apply --plan` is apply's (apply-run.ts).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { withRunOptions } from './apply.js';
import { DEFAULT_PLAN_TTL_MS, MAX_PLAN_TTL_MS } from '../../model/plan-ttl.js';
import type { ApplyOptions } from './apply-run.js';
import type { PlanBody } from '../../model/plan-file.js';

const DURATION_HINT = 'a duration such as 24h, 90m or 2d';

function ttl(value: string): number {
  const m = /^(\d+)([mhd])$/.exec(value);
  const ms = m ? Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'] : 0;
  if (ms < 60_000 || ms > MAX_PLAN_TTL_MS) throw new InvalidArgumentError(`--expires needs ${DURATION_HINT}, at most ${MAX_PLAN_TTL_MS / 86_400_000}d, got "${value}"`);
  return ms;
}

/** `show --plan FILE`: the plan's header, then its results as the dry run printed them. */
export async function showPlan(file: string, opts: { glyphs?: boolean }): Promise<void> {
  const { readPlanFile } = await import('../../model/index.js');
  const { neutralize } = await import('../../engine/index.js');
  const { stepStatus } = await import('../../engine/events-schema.js');
  const { createPlainView } = await import('../../report/plain.js');
  const { createRecapCollector, renderRecap } = await import('../../report/recap.js');
  const { signatureFiles } = await import('../plan-signatures.js');
  const plan = readPlanFile(file);
  const b = plan.body;
  const out = (line: string): void => void process.stdout.write(`${neutralize(line)}\n`);
  const expired = Date.parse(b.planned.expires) <= Date.now();
  out(`plan ${plan.id}: runbook ${b.runbook.name} (sha256 ${b.runbook.hash.slice(0, 12)}) on ${b.hosts.length} host${b.hosts.length === 1 ? '' : 's'}${b.become ? ', every command through sudo' : ''}`);
  out(`planned by ${b.planned.by} at ${b.planned.at} (dry run ${b.planned.runId}), ${expired ? 'EXPIRED at' : 'valid until'} ${b.planned.expires}`);
  out(`runbook file: ${b.runbook.file}`);
  out(`inventory: ${b.inventory}`);
  const sigs = signatureFiles(file);
  out(`signatures: ${sigs.length ? `${sigs.join(', ')} (checked by apply --plan --allowed-signers)` : 'none'}`);
  out('');
  const time = new Date(b.planned.at);
  const recap = createRecapCollector();
  const plain = createPlainView({ glyphs: Boolean(opts.glyphs), write: (t) => void process.stdout.write(t), now: () => time });
  const emit = (e: Parameters<typeof plain>[0]): void => {
    recap.listener(e);
    plain(e);
  };
  const base = { time: b.planned.at, runId: b.planned.runId };
  const steps = b.hosts[0] ? [...b.hosts[0].steps, ...(b.hosts[0].handlers ?? [])].map((s) => s.name) : [];
  emit({ type: 'run-start', ...base, runbook: b.runbook.name, runbookFile: b.runbook.file, runbookHash: b.runbook.hash, operator: b.planned.by, mode: 'dry-run', hosts: b.hosts.map((h) => h.name), steps });
  for (const h of b.hosts) {
    const all = [...h.steps, ...(h.handlers ?? [])];
    const down = all.find((s) => s.status === 'unreachable');
    if (down) emit({ type: 'host-connect', ...base, host: h.name, ok: false, error: down.reason ?? '', durationMs: 0 });
    for (const s of all) {
      const status = stepStatus.safeParse(s.status);
      emit({
        type: 'step-result',
        ...base,
        host: h.name,
        step: s.name,
        stepIndex: s.index,
        status: status.success ? status.data : 'unknown',
        ...(s.reason !== undefined ? { reason: s.reason } : {}),
        ...(s.checkOutput !== undefined ? { checkOutput: s.checkOutput } : {}),
        ...(s.fixCommands !== undefined ? { fixCommands: s.fixCommands } : {}),
        durationMs: 0,
      });
    }
  }
  process.stdout.write(renderRecap(recap.state));
  for (const line of alsoRuns(b)) out(line);
}

/** What the recap's plan does not list: the verify after each planned fix, and the handlers a fix may notify. */
function alsoRuns(b: PlanBody): string[] {
  // A heading and its commands, keyed as JSON, with the hosts that share them.
  const groups = new Map<string, string[]>();
  const add = (heading: string, commands: string[], host: string): void => {
    const key = JSON.stringify([heading, ...commands]);
    groups.set(key, [...(groups.get(key) ?? []), host]);
  };
  const drift = (d: PlanBody['hosts'][number]['steps'][number]['drift']): string => (d.kind === 'regex' ? `{ regex: ${JSON.stringify(d.value)} }` : d.kind);
  for (const h of b.hosts) {
    for (const s of h.steps) if (s.status === 'would-fix') add(`"${s.name}" verifies its fix with (drift: ${drift(s.drift)})`, [s.verifyCommand ?? s.verify], h.name);
    for (const s of h.handlers ?? []) if (s.fix.length) add(`handler "${s.name}", if a fix notifies it, runs then verifies`, [...s.fix, s.verify], h.name);
  }
  if (groups.size === 0) return [];
  const lines = ['Also runs:'];
  for (const [key, hosts] of groups) {
    const [heading, ...commands] = JSON.parse(key) as string[];
    lines.push(`  ${heading} on ${hosts.join(', ')}:`, ...commands.map((c) => `      $ ${c.replace(/\n/g, '\n        ')}`));
  }
  return lines;
}

export function register(program: Command): void {
  withRunOptions(program.command('plan'))
    .description('Run the checks (read-only, like apply --dry-run) and save what would be fixed as a plan to review, sign and apply later')
    .argument('<name>', 'runbook name (or path to a runbook file)')
    .requiredOption('-o, --out <file>', 'where to write the plan (JSON)')
    .addOption(new Option('--expires <duration>', `how long the plan may be applied: ${DURATION_HINT}`).argParser(ttl).default(DEFAULT_PLAN_TTL_MS, `${DEFAULT_PLAN_TTL_MS / 3_600_000}h`))
    .option('--hosts <pattern>', "hosts to plan for (default: the runbook's hosts:, else all)")
    .action(async (name: string, opts: ApplyOptions & { out: string; expires: number }) => {
      const { runApply } = await import('./apply-run.js');
      process.exit(await runApply(name, { ...opts, drainGrace: 30, planOut: opts.out, planTtlMs: opts.expires }));
    });

  program
    .command('sign')
    .description('Approve a plan: sign it with your SSH key (ssh-keygen -Y sign), stored as PLAN.sigs/PRINCIPAL.sig')
    .argument('<plan>', 'the plan file')
    .option('--key <file>', 'private key, or a .pub whose key is in ssh-agent (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa)')
    .option('--principal <name>', 'your name in the allowed-signers file (default: your user name)')
    .action(async (file: string, opts: { key?: string; principal?: string }) => {
      const { readPlanFileBytes } = await import('../../model/index.js');
      const { operatorName } = await import('../../model/operator.js');
      const { signPlan } = await import('../plan-signatures.js');
      // An edited or expired plan is not worth an approval; the bytes checked are the bytes signed.
      const { plan, bytes } = readPlanFileBytes(file, new Date());
      const sig = signPlan(file, bytes, opts.principal ?? operatorName(), opts.key);
      const { neutralize } = await import('../../engine/index.js');
      process.stdout.write(`${neutralize(`signed plan ${plan.id} (${plan.body.runbook.name} on ${plan.body.hosts.map((h) => h.name).join(', ')}): ${sig}`)}\n`);
    });
}

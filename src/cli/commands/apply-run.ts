/**
 * The apply session: loads the model, builds the plan, refuses what cannot be asked, wires the
 * listeners (live view or --json, recap) and Ctrl-C, runs, and returns the exit code.
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { operatorName } from '../../model/operator.js';
import {
  UserError,
  buildTemplateContext,
  contextSecrets,
  createRedactor,
  loadInventory,
  refuseExampleInventory,
  fixedByProblems,
  loadRunbook,
  operatorVars,
  maskedVars,
  selectRunbookHosts,
  renderProblems,
  selectHosts,
  shellQuote,
  readPlanFileBytes,
  checkPlanOut,
  writePlanFile,
  sealPlan,
  DEFAULT_PLAN_TTL_MS,
  type PlanFile,
  type Host,
  type TemplateContext,
} from '../../model/index.js';
import {
  EventBus,
  RunControl,
  autoApprove,
  buildPlan,
  createInteractiveGate,
  neutralize,
  onceHostNames,
  runPlan,
  templateBindings,
  hostIdentity,
  planGuard,
  undoPlan,
  DEFAULT_DRAIN_TIMEOUT_MS,
  type ApprovalGate,
  type DrainOptions,
} from '../../engine/index.js';
import { disruptiveSteps } from '../../model/drain-targets.js';
import { createPlanRecorder } from '../../report/plan-recorder.js';
import { captureStore, readCaptures } from '../../report/capture-store.js';
import { checkUndoRunbook, undoHosts, undoSource } from '../undo-source.js';
import { checkPlanIdentities, checkPlanRunbook, planTargets, savedPlanBody } from '../saved-plan.js';
import { checkResumeRunbook, resumeHosts, resumeSource, runVars } from '../resume-source.js';
import { checkApprovals, launcherKeys, removeStaleSignatures } from '../plan-signatures.js';
import { createTransport, targetFromHost } from '../../transport/index.js';
import { createJsonListener } from '../../report/json.js';
import { createPlainView } from '../../report/plain.js';
import { createRecapCollector, renderRecap } from '../../report/recap.js';
import { createAuditListener } from '../../report/audit-listener.js';
import { auditLocation, cliSettings, inventoryLocation } from '../settings.js';
import { policyLauncher, underApprovalPolicy } from '../approval-policy.js';
import { checkRunId, hostsOfShard, shardFor } from '../shard-run.js';
import { notifySetup } from '../notify-setup.js';
import { announceWaits } from '../approval-waits.js';
import { notifierOutcome, syslogGap, syslogTarget, writeReportTo } from '../run-end-outputs.js';
import { createAuditSyslog } from '../../report/audit-syslog.js';
import { createNotifier, type NotifyFormat } from '../../report/notify.js';
import { rolloutFor, selectTargets } from './apply-fleet.js';
import { testKillPoint } from '../test-kill-point.js';
import { afterAuditFlush } from '../audit-flush.js';
import { EXIT_CODE_FOR_VERDICT, ExitCode } from '../../model/exit-codes.js';

/** apply's options as commander parses them (apply.ts declares them). */
export interface ApplyOptions {
  hosts?: string;
  inventory?: string[];
  runbooks?: string[];
  dryRun?: boolean;
  yes?: boolean;
  forks?: number;
  var?: string[];
  varFile?: string[];
  json?: boolean;
  /** Status glyphs in plain (non-terminal) output. */
  glyphs?: boolean;
  become?: boolean;
  askBecomePass?: boolean;
  acceptNew?: boolean;
  connectTimeout?: number;
  auditFile?: string;
  /** Seconds the first Ctrl-C waits for running commands before closing their channels. */
  drainGrace: number;
  /** false: --no-drain (disruptive steps run with their nodes' pods in place). */
  drain?: boolean;
  /** How long draining a node may take (ms). */
  drainTimeout?: number;
  /** Rollout control (override the runbook's serial / max_failures). */
  batch?: number | string;
  canary?: number;
  maxFailures?: number | string;
  /** `runbook plan -o FILE`: the dry run is saved as a plan. */
  planOut?: string;
  /** How long a saved plan may be applied (ms). */
  planTtlMs?: number;
  /** `apply --plan FILE`: only the planned fixes, while the hosts are as planned. */
  plan?: string;
  requireApprovals?: number;
  allowedSigners?: string;
  allowSelfApproval?: boolean;
  /** `runbook undo RUN`: undo that run's fixes (engine/undo.ts) instead of running the runbook. */
  undo?: string;
  /** `runbook resume RUN`: continue that run (resume-source.ts): its runbook, hosts and vars, and only what it left. */
  resume?: string;
  notify?: string[];
  notifyFormat?: NotifyFormat;
  auditSyslog?: string;
  shard?: string;
  runId?: string;
}

/** Restores the terminal whatever happened: a prompt killed mid-keypress must not leave raw mode on. */
function restoreTerminal(): void {
  if (process.stdin.isTTY && process.stdin.isRaw) process.stdin.setRawMode(false);
}

async function askKeyPassphrase(file: string): Promise<string> {
  const { password } = await import('@inquirer/prompts');
  try {
    return await password({ message: `passphrase for ${file}:`, mask: true }, { output: process.stderr });
  } catch {
    throw new UserError({ message: `cancelled at the passphrase prompt for ${file}; nothing ran` }, ExitCode.ABORTED);
  } finally {
    restoreTerminal();
  }
}

async function askBecomePassword(): Promise<string> {
  const { password } = await import('@inquirer/prompts');
  try {
    return await password({ message: 'sudo password:', mask: true }, { output: process.stderr });
  } catch {
    throw new UserError({ message: 'cancelled at the sudo password prompt; nothing ran' }, ExitCode.ABORTED);
  } finally {
    restoreTerminal();
  }
}

async function askSecretVar(name: string, runId: string): Promise<string> {
  const { password } = await import('@inquirer/prompts');
  try {
    return await password({ message: `secret var ${name} (run ${runId} was given it):`, mask: true }, { output: process.stderr });
  } catch {
    throw new UserError({ message: `cancelled at the prompt for secret var ${name}; nothing ran` }, ExitCode.ABORTED);
  } finally {
    restoreTerminal();
  }
}

/** Notices (which file, which run @failed came from): stderr, so stdout stays the run's own output. */
const stderrLine = (line: string): void => void process.stderr.write(`${neutralize(line)}\n`);

/** apply --plan's file, read and checked (format, own hash, expiry) before anything else. */
function savedPlanFor(name: string | undefined, opts: ApplyOptions): (PlanFile & { bytes: Buffer }) | undefined {
  if (!opts.plan) {
    if (name === undefined) throw new UserError({ message: 'apply needs a runbook name, or --plan FILE', hint: 'see `runbook list`' });
    if (opts.requireApprovals !== undefined || opts.allowedSigners !== undefined || opts.allowSelfApproval) {
      throw new UserError({ message: '--require-approvals, --allowed-signers and --allow-self-approval apply to a saved plan', hint: 'make one with `runbook plan NAME -o plan.json`, then `runbook apply --plan plan.json`' });
    }
    return undefined;
  }
  if (opts.dryRun) throw new UserError({ message: '--plan applies a saved plan; --dry-run does not go with it', hint: `\`runbook show --plan ${opts.plan}\` prints what it would do` });
  if (opts.requireApprovals !== undefined && opts.allowedSigners === undefined) {
    throw new UserError({ message: '--require-approvals needs --allowed-signers FILE: the keys whose signatures count', hint: 'the file lists "principal key" lines (ssh-keygen(1), ALLOWED SIGNERS)' });
  }
  const { plan, bytes } = readPlanFileBytes(opts.plan, new Date());
  const saved = { ...plan, bytes };
  if (name !== undefined && name !== saved.body.runbook.name) {
    throw new UserError({ message: `${opts.plan}: plan ${saved.id} is for runbook ${saved.body.runbook.name}, not ${name}`, hint: `run \`runbook apply --plan ${opts.plan}\` without a name` });
  }
  return saved;
}

export async function runApply(nameArg: string | undefined, given: ApplyOptions): Promise<number> {
  const settings = cliSettings();
  const changing = !(given.dryRun || given.planOut);
  const opts = changing ? underApprovalPolicy(given, settings, given.undo !== undefined ? 'undo' : given.resume !== undefined ? 'resume' : 'apply') : given;
  const auditFile = auditLocation(opts.auditFile, stderrLine);
  const undoing = opts.undo !== undefined ? undoSource(auditFile, opts.undo) : undefined;
  const resuming = opts.resume !== undefined ? resumeSource(auditFile, opts.resume) : undefined;
  const saved = undoing || resuming ? undefined : savedPlanFor(nameArg, opts);
  // A plan is applied with the file it was made from, or (another checkout) the runbook of that
  // name in the search path; either way its hash must be the plan's (checked below).
  const name = undoing ? undoing.runbookRef : resuming ? resuming.runbookRef : saved ? (existsSync(saved.body.runbook.file) ? saved.body.runbook.file : saved.body.runbook.name) : nameArg!;
  const mode = changing ? 'apply' : 'dry-run';
  const interactive = mode === 'apply' && !opts.yes;
  const tty = Boolean(process.stdout.isTTY);
  // resume has no --dry-run: `runbook history RUN` shows what it would continue.
  const command = undoing ? 'undo' : resuming ? 'resume' : 'apply';
  const noAsking = resuming ? 'use --yes to approve every fix' : 'use --yes to approve every fix, or --dry-run to only report';
  if (interactive && opts.json) {
    throw new UserError({ message: `${command} --json cannot ask for approval`, hint: noAsking });
  }
  if (interactive && !(process.stdin.isTTY && tty)) {
    throw new UserError({ message: `${command} needs a terminal to ask before each fix, and there is none`, hint: noAsking });
  }

  if (opts.askBecomePass && !(process.stdin.isTTY && process.stderr.isTTY)) {
    throw new UserError({ message: '--ask-become-pass needs a terminal to ask on', hint: 'set become_password as a secret var in the inventory instead' });
  }
  // Where notices and the trail's copy go: checked before anything is asked or connected.
  const notify = notifySetup(opts.notify, opts.notifyFormat, settings);
  const syslogTo = syslogTarget(opts.auditSyslog, settings);

  if (opts.planOut) checkPlanOut(opts.planOut);
  const runbook = loadRunbook(name, { runbookDirs: opts.runbooks, notice: stderrLine });
  if (saved) checkPlanRunbook(opts.plan!, saved, runbook);
  if (undoing) checkUndoRunbook(undoing, runbook);
  if (resuming) checkResumeRunbook(resuming, runbook);
  // The recap names these runbooks as the next commands to run: they must exist (validate agrees).
  const fixedBy = fixedByProblems(runbook, { runbookDirs: opts.runbooks });
  if (fixedBy.length) throw new UserError(fixedBy);
  const inventoryAt = inventoryLocation(opts.inventory);
  refuseExampleInventory(inventoryAt);
  const inventory = loadInventory(inventoryAt);
  // --hosts, else the runbook's own default targets, else every host.
  const pattern = opts.hosts ?? runbook.hosts?.pattern ?? 'all';
  const byRunbook = opts.hosts === undefined && !undoing && !resuming ? runbook.hosts : undefined;
  const shard = shardFor(opts, runbook);
  const runId = checkRunId(opts.runId, auditFile);
  const selected = undoing
    ? undoHosts(undoing, inventory, opts.hosts)
    : resuming
    ? resumeHosts(resuming, inventory, opts.hosts)
    : saved
    ? planTargets(opts.plan!, saved, inventory, opts.hosts !== undefined ? selectTargets(inventory, opts.hosts, runbook, auditFile, stderrLine) : undefined)
    : byRunbook
      ? selectRunbookHosts(inventory, byRunbook, (inv, p) => selectTargets(inv, p, runbook, auditFile, stderrLine))
      : selectTargets(inventory, pattern, runbook, auditFile, stderrLine);
  if (selected.length === 0) throw new UserError({ pos: byRunbook?.pos, message: `no hosts match "${pattern}"`, hint: byRunbook ? 'pass --hosts PATTERN' : 'see `runbook inventory` for the hosts and groups' });
  const hosts = hostsOfShard(selected, shard);
  if (hosts.length === 0) {
    // Not an error: with many shards and few hosts, some shards have none.
    stderrLine(`runbook: shard ${opts.shard} has none of the ${selected.length} hosts selected; nothing to do`);
    return ExitCode.OK;
  }
  const givenVars = operatorVars({ env: process.env, varFiles: opts.varFile ?? [], vars: opts.var ?? [] });
  const canPrompt = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  // resume and undo render the run's own commands again: with its vars (a run recorded before vars
  // were kept is undone with the vars given).
  const again = resuming ?? (undoing?.run.vars ? undoing : undefined);
  const cliVars = again
    ? await runVars(again, givenVars, canPrompt ? (v) => askSecretVar(v, again.run.runId) : undefined, resuming ? 'resume' : 'undo')
    : givenVars;

  const contexts = new Map<string, TemplateContext>();
  const contextFor = (host: Host): TemplateContext => {
    let ctx = contexts.get(host.name);
    if (!ctx) contexts.set(host.name, (ctx = buildTemplateContext({ runbook, inventory, host, cliVars })));
    return ctx;
  };
  // Steps that read registered values are rendered again on their turn, with those values.
  const bindings = templateBindings(contextFor, { runbook, inventory, cliVars });
  // Rendering every command now means a template error stops the run before any host is touched;
  // every such problem at once, exactly as `validate -i` reports them.
  const renderErrors = renderProblems(runbook, inventory, hosts, { cliVars, secretsNeeded: true, noDrain: opts.drain === false });
  if (renderErrors.length) throw new UserError(renderErrors);
  const disruptive = disruptiveSteps(runbook);
  if (disruptive.length && opts.drain === false) {
    stderrLine(`runbook: --no-drain: the nodes are not cordoned or drained for ${disruptive.map((s) => `"${s}"`).join(', ')}: their fixes run with the pods in place`);
  }
  const drain: DrainOptions = opts.drain === false ? { off: true } : { timeoutMs: opts.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT_MS };
  const runbookPlan = buildPlan(runbook, hosts, bindings, { mode, become: opts.become, drain });
  // What each host is planned against (its commands masked): saved with a plan, compared by apply --plan.
  const identityRedact = createRedactor([...contexts.values()].flatMap(contextSecrets));
  const identities = new Map(runbookPlan.hosts.map((hp) => [hp.host.name, hostIdentity(hp, runbookPlan, bindings, identityRedact)]));
  // Captures were matched to their targets masked, as the run recorded them.
  const captures = join(dirname(auditFile), 'captures');
  const plan = undoing ? undoPlan(runbookPlan, undoing.fixedByHost, readCaptures(captures), identityRedact) : runbookPlan;
  if (undoing && plan.hosts.length === 0) {
    throw new UserError({ message: `run ${undoing.run.runId}'s fixes are no step of runbook ${runbook.name} on these hosts: there is nothing to undo`, hint: `\`runbook history ${undoing.run.runId}\` shows what it fixed` });
  }
  let approvers: string[] = [];
  if (saved) {
    checkPlanIdentities(opts.plan!, saved, plan, identities);
    if (opts.allowedSigners !== undefined) {
      const identityFiles = hosts.flatMap((h) => (h.identityFile ? [h.identityFile] : []));
      // Under the policy the launcher is the real account, whatever the environment says (approval-policy.ts).
      const real = settings.requireApprovals ? policyLauncher() : undefined;
      const launcher = launcherKeys(identityFiles, process.env, real?.home);
      const checked = checkApprovals(opts.plan!, saved.bytes, opts.allowedSigners, { keys: launcher, name: real?.name ?? operatorName() }, Boolean(opts.allowSelfApproval));
      approvers = checked.approvers;
      const need = opts.requireApprovals ?? 0;
      if (approvers.length < need) {
        const have = approvers.length ? ` (${approvers.join(', ')})` : '';
        const skipped = checked.notCounted.length ? `; not counted: ${checked.notCounted.join('; ')}` : '';
        throw new UserError({
          message: `${opts.plan}: plan ${saved.id} needs ${need} approval${need === 1 ? '' : 's'} from ${opts.allowedSigners}, has ${approvers.length}${have}${skipped}`,
          hint: `each approver runs \`runbook sign ${opts.plan}\` after reviewing \`runbook show --plan ${opts.plan}\``,
        });
      }
    }
  }
  const connectTimeout = opts.connectTimeout ?? settings.connectTimeout?.value;
  // Asked before the live view starts drawing, so the prompt has the terminal to itself.
  const becomePassword = opts.askBecomePass ? await askBecomePassword() : undefined;
  // Webhook URLs are credentials: masked wherever the run's text goes, like the secret that signs.
  const redact = createRedactor([...[...contexts.values()].flatMap(contextSecrets), becomePassword, ...notify.targets.map((t) => t.url), notify.secret]);

  const transport = createTransport({
    ...(becomePassword !== undefined ? { becomePassword } : {}),
    ...(opts.acceptNew ? { acceptNew: true } : {}),
    ...(canPrompt ? { askPassphrase: askKeyPassphrase } : {}),
    ...(connectTimeout ? { connectTimeoutMs: connectTimeout * 1000 } : {}),
    resolveHost: (hop) => {
      const h = inventory.hosts.find((x) => x.name === hop);
      return h ? targetFromHost(h) : undefined;
    },
  });
  // Encrypted keys are unlocked now, while the terminal is still ours (the live view starts below).
  await transport.prepare(hosts.map((h) => targetFromHost(h)));

  const operator = operatorName();
  const bus = new EventBus();
  const control = new RunControl();
  // The next commands reach the same fleet the same way (vars are left out: they may be secrets).
  const nextOptions = [
    ...(opts.inventory ?? []).flatMap((p) => ['-i', p]),
    ...(opts.runbooks ?? []).flatMap((d) => ['--runbooks', d]),
    ...(opts.become ? ['--become'] : []),
  ];
  const recap = createRecapCollector({
    fixedBy: new Map([...runbook.steps, ...runbook.handlers].flatMap((s) => (s.fixedBy ? [[s.name, s.fixedBy] as const] : []))),
    options: nextOptions.map((w) => ` ${shellQuote(w)}`).join(''),
  });
  bus.on(recap.listener);
  // Every command, dry-run checks included, leaves a record before the host's next command starts
  // (its fsync is awaited in afterAuditFlush).
  const syslog = syslogTo ? createAuditSyslog(syslogTo) : undefined;
  const audit = createAuditListener({ file: auditFile, operator, redact, deferSync: true, ...(syslog ? { forward: (r) => syslog.send(r) } : {}) });
  bus.on(audit);
  const reportDir = mode === 'apply' ? settings.reportDir?.value : undefined;
  const notifier = notify.targets.length
    ? createNotifier({
        ...notify,
        redact,
        ...(reportDir ? { reportPathFor: (runId: string) => join(reportDir, `${runId}.html`) } : {}),
        onFailure: ({ runId, ...f }) => audit.noteDelivery(runId, { kind: 'notify', ...f }),
      })
    : undefined;
  if (notifier) bus.on(notifier.listener);
  const recorder = opts.planOut ? createPlanRecorder() : undefined;
  if (recorder) bus.on(recorder.listener);
  // After the audit listener, so that an `-end` kill point comes after the outcome's record.
  const killPoint = testKillPoint(process.env, stderrLine);
  if (killPoint) bus.on(killPoint);

  let gate: ApprovalGate | undefined = mode === 'apply' ? autoApprove(operator) : undefined;
  let confirm: ((host: string, message: string, signal: AbortSignal) => Promise<boolean>) | undefined;
  let liveDone: Promise<void> = Promise.resolve();
  // Where the first Ctrl-C's notice goes: the live view holds back other terminal output.
  let notice = (text: string): void => void process.stderr.write(`\nrunbook: ${text}\n`);
  // Commands sent and not yet answered, for that notice (the host lock is held all run long: not one).
  let running = 0;
  bus.on((e) => {
    if ((e.type === 'command-start' || e.type === 'command') && e.phase !== 'lock') running += e.type === 'command-start' ? 1 : -1;
  });
  // A reader that goes away (`| head`) must not crash the run: the hosts' work goes on, unprinted.
  let stdoutOpen = true;
  process.stdout.on('error', () => (stdoutOpen = false));
  const print = (text: string): void => void (stdoutOpen && process.stdout.write(text));
  if (!opts.json) {
    // Which fleet this is, before anything runs: a wrong inventory is the costliest mistake to spot late.
    const inv = relative(process.cwd(), inventory.file);
    const what = undoing ? `${mode === 'dry-run' ? 'dry run of the undo' : 'undo'} of run ${undoing.run.runId}` : resuming ? `resume of run ${resuming.run.runId}` : saved ? `apply of plan ${saved.id}` : opts.planOut ? 'plan (a dry run)' : mode === 'dry-run' ? 'dry run' : 'apply';
    // The settings in force too: a project's ./runbook.yaml may choose the inventory, the trail and where notices go.
    const using = settings.files.length ? ` (settings: ${settings.files.map((f) => relative(process.cwd(), f) || f).join(', ')})` : '';
    print(neutralize(`runbook ${runbook.name}: ${what} on ${hosts.length} host${hosts.length === 1 ? '' : 's'} from ${inv === '' || inv.startsWith('..') ? inventory.file : inv}${using}\n`));
  }
  if (opts.json) {
    bus.on(createJsonListener(print));
  } else if (tty && (interactive || !process.env.CI)) {
    // CI logs keep every line: plain lines there even when a pseudo-terminal is attached.
    const { createLiveView } = await import('../../report/live.js');
    const names = hosts.map((h) => h.name);
    const live = createLiveView({
      hosts: [...names, ...onceHostNames(runbook.steps, names, (p) => selectHosts(inventory, p))],
      steps: [...plan.steps, ...plan.handlers].map((s) => s.name),
    });
    bus.on(live.listener);
    liveDone = live.done;
    notice = live.notice;
    if (interactive) {
      gate = notifier ? announceWaits((p) => createInteractiveGate(p, operator, control), live.prompter, notifier.waiting) : createInteractiveGate(live.prompter, operator, control);
      confirm = live.confirm;
    }
  } else {
    bus.on(createPlainView({ glyphs: Boolean(opts.glyphs), write: print }));
  }
  const rollout = rolloutFor(
    { batch: opts.batch, canary: opts.canary, maxFailures: opts.maxFailures, forks: opts.forks ?? settings.forks?.value },
    runbook,
    { mode, interactive, hosts: hosts.length, control, ...(confirm ? { confirm } : {}) },
  );
  if (rollout.limit) bus.on(rollout.limit);

  let presses = 0;
  let graceTimer: NodeJS.Timeout | undefined;
  const onSigint = (): void => {
    presses += 1;
    if (presses === 1) {
      control.stop('interrupted by the operator (Ctrl-C)', { byOperator: true });
      notice(`stopping: no new steps will start; ${running} command${running === 1 ? '' : 's'} still running, given up to ${opts.drainGrace}s (Ctrl-C again to interrupt them)`);
      graceTimer = setTimeout(() => control.interrupt(`interrupted: running commands did not finish within ${opts.drainGrace}s of Ctrl-C`), opts.drainGrace * 1000);
      graceTimer.unref();
    } else {
      notice('interrupting the running commands');
      control.interrupt('interrupted by the operator (second Ctrl-C)');
    }
  };
  process.on('SIGINT', onSigint);

  try {
    const result = await runPlan(plan, {
      ...(runId ? { runId } : {}),
      operator,
      gate,
      bus,
      control,
      redact,
      strategy: rollout.strategy,
      // Nodes are drained one at a time, unless the run goes in batches: a batch is then the unit.
      drainsAtOnce: opts.batch !== undefined || runbook.serial !== undefined ? Number.POSITIVE_INFINITY : 1,
      bindings,
      captureStore: captureStore(captures, stderrLine),
      ...(undoing ? { undoes: undoing.run.runId } : {}),
      // What resume repeats: a secret's value is masked by name, whatever it is.
      vars: maskedVars(cliVars, (v) => Boolean(runbook.vars[v]?.secret) || [...contexts.values()].some((c) => c.secretNames.has(v))),
      ...(resuming ? { resume: resuming.from } : {}),
      ...(saved ? { planGuard: planGuard(saved, hosts.map((h) => h.name)), plan: { id: saved.id, hash: saved.hash, file: resolve(opts.plan!), approvers } } : {}),
      // Another operator's apply on the same host refuses this one there (exit 4), naming the holder.
      hostLock: { waitMs: 0 },
      connect: async (host) => afterAuditFlush(await transport.connect(targetFromHost(host, opts.become ? { become: true } : {})), audit, control),
    });
    // The run's end is on disk (and the head moved) before anything else is written.
    await audit.flush();
    await liveDone.catch(() => undefined);
    if (!opts.json) print(renderRecap(recap.state));
    const out = opts.json ? stderrLine : (l: string) => print(`${neutralize(l)}\n`);
    if (reportDir) out(writeReportTo(reportDir, auditFile, result.runId));
    // Both wait at once, under one bound: the exit waits at most NOTIFY_SETTLE_MS for them.
    const [notices, gap] = await Promise.all([notifier ? notifierOutcome(notifier) : [], syslog && syslogTo ? syslogGap(syslog, syslogTo, result.runId, audit) : undefined]);
    for (const line of notices) out(line);
    if (gap) out(gap);
    if (recorder && opts.planOut && (result.aborted || result.stopReason !== undefined)) {
      stderrLine(`runbook: no plan written to ${opts.planOut}: the dry run was stopped (${result.stopReason ?? 'aborted'}), so it did not check every host`);
    } else if (recorder && opts.planOut) {
      const body = savedPlanBody(plan, recorder, {
        identities,
        by: operator,
        at: new Date(),
        ttlMs: opts.planTtlMs ?? DEFAULT_PLAN_TTL_MS,
        inventory: inventory.file,
        runId: result.runId,
      });
      const sealed = sealPlan(body);
      writePlanFile(opts.planOut, sealed);
      const stale = removeStaleSignatures(opts.planOut);
      const fixes = body.hosts.reduce((n, h) => n + h.steps.filter((s) => s.status === 'would-fix').length, 0);
      if (stale.length) stderrLine(`runbook: removed ${stale.length} signature${stale.length === 1 ? '' : 's'} of an earlier plan at ${opts.planOut} (${stale.join(', ')})`);
      out(`Plan ${sealed.id} written to ${opts.planOut}: ${fixes} fix${fixes === 1 ? '' : 'es'} on ${body.hosts.length} host${body.hosts.length === 1 ? '' : 's'}, valid until ${body.planned.expires}`);
      out(`  review: runbook show --plan ${shellQuote(opts.planOut)}   sign: runbook sign ${shellQuote(opts.planOut)}   apply: runbook apply --plan ${shellQuote(opts.planOut)}`);
    }
    return EXIT_CODE_FOR_VERDICT[result.verdict];
  } finally {
    if (graceTimer) clearTimeout(graceTimer);
    process.off('SIGINT', onSigint);
    restoreTerminal();
    audit.close();
    await transport.closeAll().catch(() => undefined);
  }
}

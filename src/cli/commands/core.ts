/**
 * The read-only commands: list, show, validate, inventory, schema. Each action imports the model
 * lazily so `runbook --help` does not load zod and yaml.
 */
import { SCHEMA_KINDS, type SchemaKind } from '../../model/schema-kinds.js';
import { Argument, type Command } from 'commander';
import { textTable } from '../../report/text-table.js';
import { collect, INVENTORY_OPTION } from '../options.js';

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const err = (line: string): void => void process.stderr.write(`${line}\n`);

interface CommonOptions {
  inventory?: string[];
  runbooks?: string[];
  hosts?: string;
  var?: string[];
  varFile?: string[];
  json?: boolean;
  names?: boolean;
}

const model = () => import('../../model/index.js');
const settings = () => import('../settings.js');

function showValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

async function listAction(opts: CommonOptions): Promise<void> {
  const m = await model();
  const entries = m.listRunbookFiles({ runbookDirs: opts.runbooks });
  if (opts.names) {
    // For shell completion: the names apply and show accept, each once. A file named like
    // `$(cmd).yaml` in ./runbooks is no runbook name: a shell must never be handed it.
    for (const name of new Set(entries.map((e) => e.name))) if (m.RUNBOOK_NAME_RE.test(name)) out(name);
    return;
  }
  if (opts.json) {
    const rows = entries.map((e) => {
      const r = m.checkRunbookFile(e.file);
      return { name: e.name, file: e.file, source: e.source, description: r.runbook?.description ?? null, valid: !!r.runbook, shadowedBy: e.shadowedBy ?? null };
    });
    out(JSON.stringify(rows, null, 2));
    return;
  }
  if (entries.length === 0) {
    out('no runbooks found (looked in --runbooks dirs, ./runbooks and the built-in runbooks)');
    return;
  }
  const rows = [['NAME', 'SOURCE', 'DESCRIPTION']];
  for (const e of entries) {
    const r = m.checkRunbookFile(e.file);
    const desc = r.runbook ? r.runbook.description : `(invalid: run \`runbook validate ${e.file}\`)`;
    const source = e.source === 'builtin' ? 'built-in' : e.source === 'cwd' ? './runbooks' : e.file.replace(/\/[^/]+$/, '');
    rows.push([e.shadowedBy ? `${e.name} (shadowed)` : e.name, source, desc]);
  }
  out(textTable(rows));
}

async function showAction(name: string, opts: CommonOptions): Promise<void> {
  const m = await model();
  const runbook = m.loadRunbook(name, { runbookDirs: opts.runbooks, notice: (line) => process.stderr.write(`${line}\n`) });
  // A runbook validate and apply refuse is not shown as if it could run.
  const fixedBy = m.fixedByProblems(runbook, { runbookDirs: opts.runbooks });
  if (fixedBy.length) throw new m.UserError(fixedBy);
  const cliVars = m.operatorVars({ env: process.env, varFiles: opts.varFile ?? [], vars: opts.var ?? [] });
  out(`${runbook.name}${runbook.description ? ` — ${runbook.description}` : ''}`);
  out(`file: ${runbook.file}`);
  const flags = [
    runbook.hosts !== undefined && `hosts: ${runbook.hosts.pattern} (default targets)`,
    runbook.serial !== undefined && `serial: ${runbook.serial}`,
    runbook.maxFailures !== undefined && `max_failures: ${runbook.maxFailures}`,
    runbook.become !== undefined && `become: ${runbook.become}`,
  ].filter(Boolean);
  if (flags.length) out(flags.join(', '));
  const vars = Object.entries(runbook.vars);
  if (vars.length) {
    out('vars:');
    for (const [k, d] of vars) out(`  ${k}: ${d.secret ? m.MASK : showValue(d.value)}`);
  }

  type Step = (typeof runbook.steps)[number];
  const describe = (s: Step, i: number, render: (t: Step['check']) => string, label: string): void => {
    out(`${label}${i + 1}. ${s.name}`);
    const attrs: string[] = [];
    if (s.local) attrs.push('local: runs on this machine, once per host');
    if (s.on) attrs.push(`on: ${s.on}${s.once ? ' (once)' : ''}`);
    if (s.when) attrs.push(`when: ${s.when.text}`);
    if (s.become !== undefined) attrs.push(`become: ${s.become}`);
    if (s.timeoutMs !== undefined) attrs.push(`timeout: ${s.timeoutMs / 1000}s`);
    if (s.continueOnFailure) attrs.push('continue_on_failure');
    if (s.register) attrs.push(`register: ${s.register}${s.json ? ' (json)' : ''}`);
    if (s.notify.length) attrs.push(`notify: ${s.notify.join(', ')}`);
    if (s.disruptive) attrs.push('disruptive: its node is cordoned and drained before the fix, and uncordoned after the verify if it took pods before');
    const ind = `${label}   `;
    if (attrs.length) out(`${ind}${attrs.join('; ')}`);
    out(`${ind}check:  ${render(s.check)}`);
    if (s.expect) out(`${ind}expect: ${s.expect.kind === 'regex' ? `/${s.expect.value}/` : JSON.stringify(s.expect.value)}`);
    if (s.fix.length === 0) out(`${ind}fix:    (none: check only)`);
    else if (s.fix.length === 1) out(`${ind}fix:    ${render(s.fix[0]!)}`);
    else {
      out(`${ind}fix:`);
      for (const f of s.fix) out(`${ind}  - ${render(f)}`);
    }
    if (s.fix.length) out(`${ind}verify: ${s.verify ? render(s.verify) : '(the check again)'}`);
    if (s.files.length) out(`${ind}files:  ${s.files.map((f) => `${render(f.path)}${f.sensitive ? ' (sensitive)' : ''}`).join(', ')}`);
    for (const c of s.snapshot) out(`${ind}snapshot: ${render(c)}`);
    if (s.preview) out(`${ind}preview: ${render(s.preview)}`);
    if (s.undo) out(`${ind}undo:   ${render(s.undo)}`);
    if (s.noUndo) out(`${ind}undo:   (none: ${s.noUndo})`);
    if (s.confirmMs !== undefined) out(`${ind}confirm: a watchdog on the host puts back what the step captured ${s.confirmMs / 1000}s after the fix, unless the verify passed and runbook confirmed`);
  };
  const printAll = (render: (t: Step['check']) => string, label: string): void => {
    runbook.steps.forEach((s, i) => describe(s, i, render, label));
    if (runbook.handlers.length) {
      out(`${label}handlers:`);
      runbook.handlers.forEach((s, i) => describe(s, i, render, `${label}  `));
    }
  };

  if (!opts.hosts) {
    out('');
    printAll((t) => t.text, '');
    return;
  }
  const inventory = m.loadInventory((await settings()).inventoryLocation(opts.inventory));
  const hosts = m.selectHosts(inventory, opts.hosts);
  // The plan apply would make for these hosts, every problem at once: values registered during a
  // run stay {{ references }}, and a step `on:` other hosts is not rendered here.
  const problems = m.renderProblems(runbook, inventory, hosts, { cliVars, secretsNeeded: true });
  if (problems.length) throw new m.UserError(problems);
  const { buildPlan, templateBindings, neutralize } = await import('../../engine/index.js');
  const contextFor = (host: (typeof hosts)[number]) => m.buildTemplateContext({ runbook, inventory, host, cliVars });
  const plan = buildPlan(runbook, hosts, templateBindings(contextFor, { runbook, inventory, cliVars }), { mode: 'dry-run' });
  for (const hp of plan.hosts) {
    out('');
    out(`== ${hp.host.name} (${hp.host.user}@${hp.host.address}:${hp.host.port})`);
    hp.steps.forEach((ps, i) => {
      const s = ps.source;
      // Each template of the step, as rendered for this host.
      const rendered = new Map([
        [s.check, ps.check],
        ...(s.verify ? [[s.verify, ps.verify] as const] : []),
        ...s.fix.map((t, k) => [t, ps.fix[k]!] as const),
        ...s.files.map((f, k) => [f.path, ps.files[k]!.path] as const),
        ...s.snapshot.map((t, k) => [t, ps.snapshot[k]!] as const),
        ...(s.preview && ps.preview ? [[s.preview, ps.preview] as const] : []),
        ...(s.undo && ps.undo ? [[s.undo, ps.undo] as const] : []),
      ]);
      describe(s, i, (t) => neutralize(ps.elsewhere ? `(not this host's step: on: ${s.on})` : (rendered.get(t)?.display ?? t.text)), '');
    });
  }
}

async function validateAction(files: string[], opts: CommonOptions): Promise<void> {
  const m = await model();
  const { readFileSync, statSync, readdirSync, existsSync } = await import('node:fs');
  const { resolve, join, extname } = await import('node:path');
  const problems: import('../../model/index.js').Problem[] = [];
  let checked = 0;
  const record = (file: string, kind: string, ps: import('../../model/index.js').Problem[]): void => {
    checked++;
    if (ps.length === 0) out(`ok  ${kind.padEnd(9)} ${file}`);
    // Not push(...ps): a broken file can have more problems than a call takes arguments on a
    // small stack (fuzz case 810: RangeError, reported as an internal error).
    for (const p of ps) problems.push(p);
  };
  const guard = (file: string, kind: string, fn: () => import('../../model/index.js').Problem[]): void => {
    try {
      record(file, kind, fn());
    } catch (e) {
      if (!(e instanceof m.UserError)) throw e;
      record(file, kind, e.problems);
    }
  };
  // Each entry is one inventory: its sources, merged.
  const inventoryTargets: string[][] = [];
  const runbookTargets: string[] = [];

  const classify = (file: string): void => {
    const ext = extname(file).toLowerCase();
    if (ext === '.ini' || ext === '.cfg' || !['.yaml', '.yml', '.json'].includes(ext)) return void inventoryTargets.push([file]);
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // Reported by the loader below, with the right wording.
    }
    // A runbook has steps; an inventory has hosts/groups (native) or groups at the top (Ansible).
    if (/^steps\s*:/m.test(text) || !/^(hosts|groups|defaults|all)\s*:/m.test(text)) runbookTargets.push(file);
    else inventoryTargets.push([file]);
  };

  if (files.length) {
    for (const f of files) {
      const file = resolve(f);
      if (existsSync(file) && statSync(file).isDirectory()) {
        for (const e of readdirSync(file).sort()) if (/\.ya?ml$/.test(e)) classify(join(file, e));
      } else classify(file);
    }
    // -i with files: that inventory is checked too, and the runbooks' patterns against it.
    const given = (opts.inventory ?? []).map((p) => resolve(p));
    if (given.length && !inventoryTargets.some((t) => t.join('\0') === given.join('\0'))) inventoryTargets.push(given);
  } else {
    for (const e of m.listRunbookFiles({ runbookDirs: opts.runbooks })) runbookTargets.push(e.file);
    const loc = (await settings()).inventoryLocation(opts.inventory);
    if (loc.source === 'default' && !existsSync(loc.paths[0]!)) out(`--  inventory no inventory at ${loc.paths[0]} (skipped; pass -i FILE or set $RUNBOOK_INVENTORY)`);
    else inventoryTargets.push(loc.paths);
  }

  let inventory: import('../../model/index.js').Inventory | undefined;
  for (const paths of inventoryTargets) {
    guard(paths.join(', '), 'inventory', () => {
      const missing = paths.find((f) => !existsSync(f));
      if (missing !== undefined) return [{ message: `inventory ${missing} not found` }];
      const r = m.checkInventory(paths);
      inventory ??= r.inventory;
      return r.problems;
    });
  }
  for (const f of runbookTargets) {
    guard(f, 'runbook', () => {
      if (!existsSync(f)) return [{ message: `runbook ${f} not found` }];
      const r = m.checkRunbookFile(f);
      // In apply's order, so that both report the same problems: fixed_by, then (with an inventory
      // at hand) the runbook's default targets and each step's `on:`, then the commands.
      if (r.runbook) r.problems.push(...m.fixedByProblems(r.runbook, { runbookDirs: opts.runbooks }));
      if (!r.runbook || !inventory || r.problems.length) return r.problems;
      const runbook = r.runbook;
      let targets = inventory.hosts;
      const patternProblems = m.onPatternProblems(runbook, inventory);
      if (runbook.hosts) {
        try {
          targets = m.selectRunbookHosts(inventory, runbook.hosts);
        } catch (e) {
          if (!(e instanceof m.UserError)) throw e;
          patternProblems.unshift(...e.problems);
        }
      }
      // With -i, every command rendered for the hosts a bare apply would target (the runbook's
      // hosts:, else all), as apply renders them (without the secrets' values).
      if (!opts.inventory || patternProblems.length) return patternProblems;
      return m.renderProblems(runbook, inventory, targets, { secretsNeeded: false });
    });
  }
  if (problems.length) {
    for (const p of problems) err(m.formatProblem(p));
    err(`${problems.length} problem${problems.length === 1 ? '' : 's'} in ${checked} file${checked === 1 ? '' : 's'}`);
    const { ExitCode } = await import('../../model/exit-codes.js');
    process.exitCode = ExitCode.USAGE;
    return;
  }
  out(`${checked} file${checked === 1 ? '' : 's'} valid`);
}

async function inventoryAction(opts: CommonOptions): Promise<void> {
  const m = await model();
  const inventory = m.loadInventory((await settings()).inventoryLocation(opts.inventory));
  const hosts = opts.hosts ? m.selectHosts(inventory, opts.hosts) : inventory.hosts;
  const masked = (h: (typeof hosts)[number]): Record<string, unknown> =>
    Object.fromEntries(Object.entries(h.vars).map(([k, v]) => [k, h.secretVars.includes(k) ? m.MASK : v]));
  if (opts.json) {
    const groups = [...inventory.groups.values()].filter((g) => g.name !== 'all').map((g) => ({ name: g.name, hosts: g.hosts.filter((h) => hosts.some((x) => x.name === h)), children: g.children }));
    const rows = hosts.map((h) => ({
      name: h.name,
      address: h.address,
      port: h.port,
      user: h.user,
      connection: h.connection,
      groups: h.groups,
      vars: masked(h),
      ...(h.identityFile && { identityFile: h.identityFile }),
      ...(h.knownHostsFile && { knownHostsFile: h.knownHostsFile }),
      ...(h.proxyJump && { proxyJump: h.proxyJump }),
      ...(h.become !== undefined && { become: h.become }),
    }));
    out(JSON.stringify({ file: inventory.file, hosts: rows, groups }, null, 2));
    return;
  }
  out(`inventory: ${inventory.file}`);
  out(`${hosts.length} host${hosts.length === 1 ? '' : 's'}`);
  for (const h of hosts) {
    out('');
    const extra = [
      h.connection !== m.DEFAULT_CONNECTION && h.connection,
      h.become && 'become',
      h.proxyJump && `via ${h.proxyJump}`,
      h.identityFile && `key ${h.identityFile}`,
    ].filter(Boolean);
    out(`${h.name}  ${h.user}@${h.address}:${h.port}${extra.length ? `  (${extra.join(', ')})` : ''}`);
    out(`  groups: ${h.groups.length ? h.groups.join(', ') : '(none)'}`);
    const vars = Object.entries(masked(h));
    for (const [k, v] of vars) out(`  ${k}: ${showValue(v)}`);
  }
  const groups = [...inventory.groups.values()].filter((g) => g.name !== 'all');
  const shown = groups.map((g) => ({ g, members: g.hosts.filter((n) => hosts.some((h) => h.name === n)) })).filter((x) => x.members.length);
  if (shown.length) {
    out('');
    out('groups:');
    for (const { g, members } of shown) out(`  ${g.name}: ${members.join(', ')}${g.children.length ? `  (children: ${g.children.join(', ')})` : ''}`);
  }
}

async function schemaAction(kind: SchemaKind): Promise<void> {
  const { jsonSchemaText } = await import('../../model/json-schema.js');
  process.stdout.write(jsonSchemaText(kind));
}

export function register(program: Command): void {
  const inventoryOpt = [...INVENTORY_OPTION] as const;
  const runbooksOpt = ['--runbooks <dir>', 'extra runbook directory, searched first (repeatable)', collect] as const;

  program
    .command('list')
    .description('List the available runbooks (--runbooks dirs, ./runbooks, built-in)')
    .option(...runbooksOpt)
    .option('--json', 'print JSON')
    .option('--names', 'print only the names, one per line (for scripts and shell completion)')
    .action((opts: CommonOptions) => listAction(opts));

  program
    .command('show')
    .description("Show a runbook's steps; with --hosts, the commands as rendered for each host; with --plan, a saved plan")
    .argument('[name]', 'runbook name (or path to a runbook file)')
    .option('--plan <file>', 'print a saved plan (runbook plan -o) as its dry run did')
    .option('--glyphs', 'status glyphs (✔ ✖ …) in a plan\'s lines')
    .option('--hosts <pattern>', 'render the commands for these hosts (host pattern)')
    .option(...inventoryOpt)
    .option(...runbooksOpt)
    .option('--var <name=value>', 'set a variable, overriding runbook and inventory (repeatable)', collect)
    .option('--var-file <file>', 'set variables from a YAML file of name: value, below --var (repeatable)', collect)
    .action(async (name: string | undefined, opts: CommonOptions & { plan?: string; glyphs?: boolean }) => {
      if (opts.plan !== undefined) {
        if (name !== undefined || opts.hosts !== undefined) throw new (await model()).UserError({ message: 'show --plan prints the plan alone', hint: `run \`runbook show --plan ${opts.plan}\` without a name or --hosts` });
        const { showPlan } = await import('./plan.js');
        return showPlan(opts.plan, opts);
      }
      if (name === undefined) throw new (await model()).UserError({ message: 'show needs a runbook name, or --plan FILE', hint: 'see `runbook list`' });
      return showAction(name, opts);
    });

  program
    .command('validate')
    .description('Check runbooks and inventories and report every problem (no files: everything runbook would load)')
    .argument('[files...]', 'runbook or inventory files, or directories of runbooks')
    .option(...inventoryOpt)
    .option(...runbooksOpt)
    .action((files: string[], opts: CommonOptions) => validateAction(files, opts));

  program
    .command('inventory')
    .description('Show the hosts (address, port, user, groups, resolved vars; secrets masked)')
    .option('--hosts <pattern>', 'only these hosts (host pattern)')
    .option(...inventoryOpt)
    .option('--json', 'print JSON')
    .action((opts: CommonOptions) => inventoryAction(opts));

  program
    .command('schema')
    .description('Print the JSON Schema of the runbook, inventory or plan format (for editors and tools)')
    .addArgument(new Argument('[kind]', 'which format').choices([...SCHEMA_KINDS]).default('runbook'))
    .action((kind: SchemaKind) => schemaAction(kind));
}

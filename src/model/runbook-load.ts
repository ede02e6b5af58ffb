/** Parses and validates a runbook file into the Runbook model, reporting every problem at once. */
import { createHash } from 'node:crypto';
import { basename, dirname, extname } from 'node:path';
import { UserError, type Problem } from './errors.js';
import { parseDuration } from './duration.js';
import { RunbookSchema, StepSchema, type StepYaml } from './runbook-schema.js';
import { runbookDeps } from './runbook-deps.js';
import { resolveVarMap } from './secrets.js';
import { didYouMean } from './suggest.js';
import { templateProblems } from './template.js';
import type { CommandTemplate, Runbook, Step, VarDef } from './types.js';
import { parseYaml, readSourceFile, sortProblems, type PathSeg, type YamlSource } from './yaml-source.js';
import { zodProblems } from './zod-problems.js';

export function runbookNameOf(file: string): string {
  return basename(file, extname(file));
}

const toolList = (t: string | string[] | undefined): string[] => (t === undefined ? [] : typeof t === 'string' ? [t] : t);

function convertStep(src: YamlSource, s: StepYaml, path: PathSeg[], problems: Problem[], runbookNeeds: string[]): Step {
  const tpl = (text: string, ...sub: PathSeg[]): CommandTemplate => {
    const at = [...path, ...sub];
    const t: CommandTemplate = { text, pos: src.posAt(at) };
    const placeholders = src.placeholderPositions(at);
    if (placeholders.length) t.placeholderPos = placeholders;
    problems.push(...templateProblems(t));
    return t;
  };
  const step: Step = {
    name: s.name,
    pos: src.posAt(path),
    check: tpl(s.check, 'check'),
    fix: s.fix === undefined ? [] : typeof s.fix === 'string' ? [tpl(s.fix, 'fix')] : s.fix.map((f, i) => tpl(f, 'fix', i)),
    continueOnFailure: s.continue_on_failure ?? false,
    needs: [...new Set([...runbookNeeds, ...toolList(s.needs)])],
    once: s.once ?? false,
    json: s.json ?? false,
    notify: s.notify === undefined ? [] : typeof s.notify === 'string' ? [s.notify] : s.notify,
    files: (s.files ?? []).map((f, i) => (typeof f === 'string' ? { path: tpl(f, 'files', i), sensitive: false } : { path: tpl(f.path, 'files', i, 'path'), sensitive: f.sensitive ?? false })),
    snapshot: s.snapshot === undefined ? [] : typeof s.snapshot === 'string' ? [tpl(s.snapshot, 'snapshot')] : s.snapshot.map((c, i) => tpl(c, 'snapshot', i)),
    ...(s.fixed_by !== undefined ? { fixedBy: s.fixed_by } : {}),
    ...(s.refuse_exit !== undefined ? { refuseExit: s.refuse_exit } : {}),
  };
  if (s.expect !== undefined) {
    if (typeof s.expect === 'object') {
      try {
        new RegExp(s.expect.regex);
      } catch (err) {
        problems.push({ pos: src.posAt([...path, 'expect', 'regex']), message: `bad regex: ${(err as Error).message}` });
      }
      step.expect = { kind: 'regex', value: s.expect.regex };
    } else step.expect = { kind: 'equals', value: String(s.expect) };
    const text = typeof s.expect === 'object' ? s.expect.regex : String(s.expect);
    if (text.includes('{{')) {
      problems.push({
        pos: src.posAt(typeof s.expect === 'object' ? [...path, 'expect', 'regex'] : [...path, 'expect']),
        message: `expect is not templated: "${text}" is compared as written, so the check can never pass`,
        hint: 'compare in the check instead, e.g. check: test "$(cmd)" = {{ want }}',
      });
    }
  }
  if (s.drift !== undefined) {
    if (typeof s.drift === 'object') {
      try {
        new RegExp(s.drift.regex, 'gm');
      } catch (err) {
        problems.push({ pos: src.posAt([...path, 'drift', 'regex']), message: `bad regex: ${(err as Error).message}` });
      }
      step.drift = { kind: 'regex', value: s.drift.regex };
    } else step.drift = { kind: s.drift };
  }
  if (s.verify !== undefined) step.verify = tpl(s.verify, 'verify');
  for (const f of step.files) {
    // The path is spliced into the capture script as one shell word: its values are quoted by
    // templating, so only the literal text around them must hold no shell syntax.
    const literal = f.path.text.replace(/\{\{[^}]*\}\}/g, '');
    if (/[\s;&|<>()$`'"\\*?[\]{}~#!]/.test(literal) || /\|\s*raw\b/.test(f.path.text)) {
      problems.push({
        pos: f.path.pos,
        message: `files: "${f.path.text}" is not one plain path: a capture is a read-only command, and this would be shell syntax`,
        hint: 'write the path without spaces, quotes or shell characters, or put it in a var ({{ my_file }}): values are quoted',
      });
    }
  }
  if (s.preview !== undefined) {
    step.preview = tpl(s.preview, 'preview');
    if (step.files.length !== 1 || step.files[0]!.sensitive) {
      problems.push({ pos: src.posAt([...path, 'preview']), message: 'preview prints what the step\'s one file would become, so it needs exactly one entry in files, not sensitive', hint: 'list that file under files:, or drop preview' });
    }
  }
  if (s.undo !== undefined) step.undo = tpl(s.undo, 'undo');
  if (s.no_undo !== undefined) step.noUndo = s.no_undo;
  if (s.undo !== undefined && s.no_undo !== undefined) {
    problems.push({ pos: src.posAt([...path, 'no_undo']), message: 'a step has an undo or says why it has none (no_undo), not both', hint: 'drop one of them' });
  }
  if ((s.undo !== undefined || s.no_undo !== undefined) && step.fix.length === 0) {
    problems.push({ pos: src.posAt([...path, s.undo !== undefined ? 'undo' : 'no_undo']), message: `${s.undo !== undefined ? 'undo' : 'no_undo'} is about a fix, and this step has no fix`, hint: 'drop it, or add the fix' });
  } else if (s.undo !== undefined && !s.local && !step.files.length && !step.snapshot.length) {
    problems.push({
      pos: src.posAt([...path, 'undo']),
      message: 'undo needs files or snapshot: runbook undo runs it only while what they capture is still as the fix left it',
      hint: 'add a snapshot: a read-only command printing the state the fix changes, such as sysctl net.ipv4.ip_forward',
    });
  }
  if (s.confirm !== undefined && !s.local) {
    const ms = parseDuration(s.confirm);
    if (ms === undefined || ms < 5000 || ms > 3_600_000) problems.push({ pos: src.posAt([...path, 'confirm']), message: 'confirm must be from 5s to 1h', hint: 'e.g. "60s": long enough for the fix and its verify' });
    else step.confirmMs = ms;
    const timeoutMs = s.timeout === undefined ? undefined : parseDuration(s.timeout);
    if (ms !== undefined && timeoutMs !== undefined && ms <= timeoutMs) {
      problems.push({ pos: src.posAt([...path, 'confirm']), message: `confirm (${s.confirm}) must be longer than the step's timeout (${s.timeout}): the watchdog would put the state back while the fix may still run`, hint: 'make confirm longer than the fix and its verify take' });
    }
    if (step.files.some((f) => f.sensitive)) {
      problems.push({ pos: src.posAt([...path, 'confirm']), message: "confirm cannot guard a sensitive file: its content is never kept, so the watchdog could not put it back", hint: 'drop sensitive: true, or confirm' });
    }
    if ((step.snapshot.length || !step.files.length) && !step.undo) {
      problems.push({
        pos: src.posAt([...path, 'confirm']),
        message: 'confirm needs something the watchdog can put back: files, or a snapshot with an undo',
        hint: 'add files: for what the fix edits, or snapshot: and undo:',
      });
    }
  }
  if ((step.files.length || step.snapshot.length) && step.fix.length === 0) {
    problems.push({ pos: src.posAt([...path, step.files.length ? 'files' : 'snapshot']), message: 'files and snapshot capture what a fix changes, and this step has no fix', hint: 'drop them, or add the fix' });
  }
  if (s.timeout !== undefined) {
    const ms = parseDuration(s.timeout);
    if (ms === undefined) problems.push({ pos: src.posAt([...path, 'timeout']), message: `timeout must be positive`, hint: 'e.g. "30s"' });
    else step.timeoutMs = ms;
  }
  if (s.become !== undefined) step.become = s.become;
  if (s.disruptive) {
    step.disruptive = true;
    const why = s.local
      ? { message: "disruptive drains the host's node around its fix, and a local step runs on the controller", hint: 'mark the step on the host whose fix disrupts the pods' }
      : step.fix.length === 0
        ? { message: 'disruptive drains the node around a fix, and this step has no fix', hint: 'drop it, or add the fix' }
        : s.on !== undefined || s.once
          ? { message: `disruptive drains the node of the host the step runs on, one target at a time, and ${s.once ? 'once' : 'on:'} runs it on another host`, hint: 'run the disruptive fix on its own target' }
          : path[0] === 'handlers'
            ? { message: 'disruptive is for steps: a handler runs after the host\'s steps, without a drain', hint: 'make the disruptive fix a step of its own' }
            : s.undo !== undefined
              ? { message: 'a disruptive step cannot have an undo: runbook undo does not drain the node, so it would run with the pods in place', hint: 'say why it has none with no_undo, or drop disruptive' }
              : undefined;
    if (why) problems.push({ pos: src.posAt([...path, 'disruptive']), ...why });
  }
  if (s.local) {
    step.local = true;
    // On the controller there is nothing of the host's to capture, preview or put back, and
    // sudo there would be root on the operator's own machine.
    for (const key of ['files', 'snapshot', 'preview', 'undo', 'confirm'] as const) {
      if (s[key] !== undefined) problems.push({ pos: src.posAt([...path, key]), message: `${key} is about the host's state, and a local step runs on the controller`, hint: 'drop it, or drop local: true to run the step on the host' });
    }
    if (s.become) problems.push({ pos: src.posAt([...path, 'become']), message: 'a local step runs on the controller as you, never through sudo', hint: 'drop become: true, or drop local: true to run the step on the host' });
  }
  if (s.when !== undefined) step.when = { text: s.when, pos: src.posAt([...path, 'when']) };
  if (s.on !== undefined) step.on = s.on;
  if (s.register !== undefined) step.register = s.register;
  if (s.json && s.register === undefined) problems.push({ pos: src.posAt([...path, 'json']), message: 'json: true needs register', hint: 'add register: NAME to store the parsed output' });
  if (s.once && s.on === undefined) problems.push({ pos: src.posAt([...path, 'once']), message: 'once: true needs on: PATTERN', hint: 'say which hosts the step runs once on' });
  return step;
}

/**
 * For a schema-invalid runbook, what can still be checked, so that one bad key hides nothing else:
 * a step that is valid on its own gets every step-level check (templates, expect, timeout,
 * json/once); any other step, the template syntax of whatever command strings it has.
 */
function partialStepProblems(src: YamlSource): Problem[] {
  const out: Problem[] = [];
  const root = src.value as { steps?: unknown; handlers?: unknown } | null;
  for (const key of ['steps', 'handlers'] as const) {
    const list = root?.[key];
    if (!Array.isArray(list)) continue;
    list.forEach((s: unknown, i) => {
      if (s === null || typeof s !== 'object') return;
      const valid = StepSchema.safeParse(s);
      if (valid.success) return void convertStep(src, valid.data, [key, i], out, []);
      const step = s as Record<string, unknown>;
      for (const field of ['check', 'verify', 'fix']) {
        const v = step[field];
        const items = Array.isArray(v) ? v.map((x, j) => [x, [field, j]] as const) : [[v, [field]] as const];
        for (const [text, sub] of items) {
          if (typeof text === 'string') out.push(...templateProblems({ text, pos: src.posAt([key, i, ...sub]) }));
        }
      }
    });
  }
  return out;
}

/** Every problem in the runbook text (empty when valid), plus the runbook when it is valid. */
export function checkRunbookText(text: string, file: string): { runbook?: Runbook; problems: Problem[] } {
  const src = parseYaml(text, file);
  if (src.value === undefined) return { problems: src.problems };
  const parsed = RunbookSchema.safeParse(src.value);
  if (!parsed.success) {
    const problems = [...src.problems, ...zodProblems(src, RunbookSchema, parsed.error.issues), ...partialStepProblems(src)];
    return { problems: sortProblems(problems) };
  }
  const y = parsed.data;
  const problems: Problem[] = [...src.problems];

  const fileName = runbookNameOf(file);
  if (y.name !== undefined && y.name !== fileName) {
    problems.push({ pos: src.posAt(['name']), message: `name "${y.name}" does not match the file name "${fileName}"`, hint: `rename the file to ${y.name}${extname(file)} or set name: ${fileName}` });
  }
  const needs = toolList(y.needs);
  const steps = y.steps.map((s, i) => convertStep(src, s, ['steps', i], problems, needs));
  const handlers = (y.handlers ?? []).map((s, i) => convertStep(src, s, ['handlers', i], problems, needs));
  const seen = new Set<string>();
  y.steps.forEach((s, i) => {
    if (seen.has(s.name)) problems.push({ pos: src.posAt(['steps', i, 'name']), message: `duplicate step name "${s.name}"`, hint: 'step names identify steps in output and the audit trail; make them unique' });
    seen.add(s.name);
  });
  (y.handlers ?? []).forEach((h, i) => {
    if (h.refuse_exit !== undefined) problems.push({ pos: src.posAt(['handlers', i, 'refuse_exit']), message: `refuse_exit has no effect on handler "${h.name}": a notified handler runs no check first`, hint: 'remove it, or make the refusal a step' });
  });
  const handlerNames = handlers.map((h) => h.name);
  for (const [list, key] of [[y.steps, 'steps'], [y.handlers ?? [], 'handlers']] as const) {
    list.forEach((s, i) => {
      const notify = s.notify === undefined ? [] : typeof s.notify === 'string' ? [s.notify] : s.notify;
      notify.forEach((n, j) => {
        if (handlerNames.includes(n)) return;
        const at = typeof s.notify === 'string' ? [key, i, 'notify'] : [key, i, 'notify', j];
        problems.push({ pos: src.posAt(at), message: `notify names unknown handler "${n}"`, hint: didYouMean(n, handlerNames) ?? 'add it under handlers' });
      });
    });
  }
  // What each step reads from earlier ones (conditions, changed(), groups.*): checked here, on
  // the same steps apply will run, so validate refuses what apply would.
  problems.push(...runbookDeps({ steps, handlers }).problems);
  const { values, secrets } = resolveVarMap(y.vars, dirname(file), (n) => src.posAt(['vars', n]));
  const vars: Record<string, VarDef> = {};
  for (const [k, v] of Object.entries(values)) vars[k] = { value: v, secret: secrets.has(k) };

  if (problems.length) return { problems: sortProblems(problems) };
  const runbook: Runbook = {
    name: y.name ?? fileName,
    description: y.description ?? '',
    file,
    hash: createHash('sha256').update(text).digest('hex'),
    vars,
    steps,
    handlers,
  };
  if (y.hosts !== undefined) runbook.hosts = { pattern: y.hosts, pos: src.posAt(['hosts']) };
  if (y.serial !== undefined) runbook.serial = y.serial;
  if (y.max_failures !== undefined) runbook.maxFailures = y.max_failures;
  if (y.become !== undefined) runbook.become = y.become;
  return { runbook, problems };
}

export function checkRunbookFile(file: string): { runbook?: Runbook; problems: Problem[] } {
  return checkRunbookText(readSourceFile(file, 'runbook'), file);
}

/** Loads a runbook file; any problem is a UserError listing all of them. */
export function loadRunbookFile(file: string): Runbook {
  const { runbook, problems } = checkRunbookFile(file);
  if (!runbook) throw new UserError(problems);
  return runbook;
}

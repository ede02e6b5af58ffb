/**
 * `runbook undo`: a run's fixes put back, host by host, latest first, through the ordinary
 * pipeline (approval, host lock, audit, reports). Each fixed step of the run becomes one undo step:
 *  - its check reads, on the host, the digest of every file and snapshot the fix changed, and
 *    passes when all are as before the fix (nothing to undo), fails when some are as the fix left
 *    them, and refuses (exit REFUSE) when any is neither: someone changed it since, and putting
 *    back the old state over their change could do harm;
 *  - its fix restores each file exactly (content, mode, owner, through its symlink), again only
 *    while it is as the fix left it, then runs the step's `undo:` command with the snapshots
 *    captured before the fix in $BEFORE_1…;
 *  - its verify is the check again: every target as before the fix.
 * What cannot be undone safely is refused on the controller (the check only says why): a
 * sensitive file (its content was never kept), content missing from the capture store, a target
 * the runbook no longer renders the same way, a step that says `no_undo`.
 */
import type { FileState } from './events.js';
import type { HostPlan, Plan, PlannedStep, RenderedCommand } from './plan.js';
import type { Step } from '../model/types.js';
import { runbookDeps } from '../model/runbook-deps.js';
import { shellQuote } from '../model/shell-quote.js';
import { readsRegistered, templatePaths } from '../model/template.js';
import type { Redact } from './sanitize.js';
import { snapshotLabel } from './capture.js';

/** The check's exit code for "changed since the fix": the undo step fails, nothing is changed. */
const REFUSE = 3;
/**
 * Content restored through one command (base64 on the command line): Linux limits one argument
 * (the command `sh -c` gets) to 128 KiB; what is larger is refused, never cut.
 */
export const UNDO_MAX_BYTES = 64 * 1024;

/** What a fix changed, as the run's trail recorded it. */
export interface RecordedChangeRef {
  target: string;
  kind: 'file' | 'snapshot' | 'preview';
  before?: string;
  after?: string;
  beforeFile?: FileState;
}

/** A step the run fixed on a host, and what its fix changed. */
export interface FixedStep {
  step: string;
  changes: RecordedChangeRef[];
}

/** Captured content by sha256 (the capture store beside the audit trail). */
export type ReadCapture = (sha256: string) => Buffer | undefined;

const ABSENT = 'absent';
const DIGEST = /^[0-9a-f]{64}$/;
const short = (d: string | undefined): string => (d ? d.slice(0, 12) : ABSENT);

/** A shell expression printing the sha256 of a file's content (through links), or "absent". */
const fileDigest = (path: string): string => `$(if [ -e ${path} ]; then sha256sum < ${path} | cut -d' ' -f1; else echo ${ABSENT}; fi)`;
/** …and of a snapshot command's output, as the capture hashed it (stdout only). */
const snapshotDigest = (command: string): string => `$( { ${command}\n} 2>/dev/null | sha256sum | cut -d' ' -f1)`;

interface Target {
  label: string;
  /** Shell expression for the current digest. */
  now: { command: string; display: string };
  before: string;
  after: string;
  /** For a file: its symlink must still be what it was (the fix writes through it, never replaces it). */
  linkCheck?: { command: string; display: string };
}

/**
 * The state check: prints one line per target, exits 0 (all as before), 1 (something to undo) or
 * REFUSE. As the verify (`afterUndo`), a target neither as before nor as the fix left it is what
 * the undo itself made of it, and says so.
 */
function stateCheck(targets: Target[], afterUndo = false): RenderedCommand {
  const other = afterUndo
    ? 'after the undo it is neither as before the fix nor as the fix left it (sha256 now $(printf %.12s "$2"))'
    : 'changed since the fix (sha256 now $(printf %.12s "$2")), so it is not undone; nothing was changed';
  const build = (part: 'command' | 'display'): string =>
    [
      'pending=0; changed=',
      'st() {',
      '  if [ "$2" = "$3" ]; then echo "$1: as before the fix"',
      '  elif [ "$2" = "$4" ]; then echo "$1: as the fix left it"; pending=1',
      // Refusals are printed last: the last line is the step's reason.
      `  else changed="$changed$1: ${other}`,
      '"; fi',
      '}',
      ...targets.flatMap((t) => [...(t.linkCheck ? [t.linkCheck[part]] : []), `st ${shellQuote(t.label)} "${t.now[part]}" ${shellQuote(t.before)} ${shellQuote(t.after)}`]),
      `if [ -n "$changed" ]; then printf '%s' "$changed"; exit ${REFUSE}; fi`,
      '[ "$pending" = 0 ]',
    ].join('\n');
  return { command: build('command'), display: build('display') };
}

/** A refusal decided on the controller: the check only says it (nothing else runs). */
function said(line: string, code: number): RenderedCommand {
  const command = `echo ${shellQuote(line)}${code ? `; exit ${code}` : ''}`;
  return { command, display: command };
}

/**
 * Restores one file as it was before the fix: undo does it only while the file is as the fix left
 * it (`after`, a digest or "absent"); a confirm watchdog (confirm.ts) whatever the fix left.
 * Runs in a subshell of its own, so that several can follow one another in one script.
 */
export function restoreFile(path: RenderedCommand, was: FileState, before: string | undefined, content: Buffer | undefined, after: string | 'any'): RenderedCommand {
  const head = (p: string) => [
    `p=${p}`,
    `now=${fileDigest('"$p"')}`,
    `if [ "$now" = ${shellQuote(before ?? ABSENT)} ]; then echo "$p: already as before the fix"; exit 0; fi`,
    ...(after === 'any' ? [] : [`[ "$now" = ${shellQuote(after)} ] || { echo "$p: changed since the fix, not restored"; exit 1; }`]),
  ];
  if (!was.exists) {
    const build = (p: string) => `(\n${[...head(p), `rm -f -- "$p"`, `echo "removed $p: it did not exist before the fix"`].join('\n')}\n)`;
    return { command: build(path.command), display: build(path.display) };
  }
  const build = (p: string, b64: string) =>
    `(\n${[
      ...head(p),
      // Written through the link, as the fix wrote: a copy beside the target, renamed over it.
      `f=$(readlink -f -- "$p")`,
      `t=$(mktemp "\${f%/*}/.\${f##*/}.XXXXXX") || exit 1`,
      `trap 'rm -f "$t"' EXIT`,
      `printf '%s' ${b64} | base64 -d > "$t" || exit 1`,
      `[ "$(sha256sum < "$t" | cut -d' ' -f1)" = ${shellQuote(before ?? ABSENT)} ] || { echo "$p: the content to restore did not arrive intact"; exit 1; }`,
      `chmod ${shellQuote(was.mode ?? '644')} "$t" && chown ${shellQuote(was.owner ?? 'root:root')} "$t" || exit 1`,
      `sync "$t"`,
      `mv -f -- "$t" "$f" || exit 1`,
      `trap - EXIT`,
      `echo "restored $p as before the fix (sha256 ${short(before)}, mode ${was.mode ?? '?'}, owner ${was.owner ?? '?'})"`,
    ].join('\n')}\n)`;
  const b64 = shellQuote(content!.toString('base64'));
  return {
    command: build(path.command, b64),
    display: build(path.display, `<${content!.length} bytes captured before the fix>`),
    brief: `restore ${path.display} as before the fix (${content!.length} bytes, sha256 ${short(before)}, mode ${was.mode ?? '?'}, owner ${was.owner ?? '?'})`,
  };
}

type Planned = { ok: true; targets: Target[]; fix: RenderedCommand[]; preview?: RenderedCommand } | { ok: false; line: string; code: number };

/** Prints the file's content before the fix: a dry run and the prompt show the undo as a diff. */
function contentPreview(content: Buffer): RenderedCommand {
  return { command: `printf '%s' ${shellQuote(content.toString('base64'))} | base64 -d`, display: `printf '%s' <${content.length} bytes captured before the fix> | base64 -d` };
}

/** The undo of one fixed step on one host, or why there is none. */
function planUndo(ps: PlannedStep, fixed: FixedStep, readCapture: ReadCapture, redact: Redact, registered: ReadonlySet<string>): Planned {
  const changes = fixed.changes.filter((c) => c.kind !== 'preview');
  if (changes.length === 0) {
    if (ps.source.noUndo) return { ok: false, line: `no undo: ${ps.source.noUndo}`, code: REFUSE };
    // Its fix ran here, for the host: nothing of it was captured (a local step may not), and the host holds none of it.
    if (ps.source.local) return { ok: false, line: 'cannot undo: a local step ran on the controller, and undo puts back only what fixes changed on the host', code: REFUSE };
    if (!ps.files.length && !ps.snapshot.length) {
      return { ok: false, line: 'cannot undo: the step declares no files or snapshot, so what its fix changed was never captured', code: REFUSE };
    }
    return { ok: false, line: 'nothing to undo: the fix changed none of what the step captures', code: 0 };
  }
  if (ps.source.noUndo) return { ok: false, line: `no undo: ${ps.source.noUndo}`, code: REFUSE };
  // Its captures or undo read values registered during the run, which undo cannot know (a step
  // whose check or fix does is fine: those are not what undo runs).
  if (ps.deferred && [...ps.source.files.map((f) => f.path), ...ps.source.snapshot, ...(ps.source.undo ? [ps.source.undo] : [])].some((t) => templatePaths(t.text).some((p) => readsRegistered(p, registered)))) {
    return { ok: false, line: 'cannot undo: what it captures or its undo reads values registered during the run; nothing was changed', code: REFUSE };
  }
  const targets: Target[] = [];
  const restores: RenderedCommand[] = [];
  let preview: RenderedCommand | undefined;
  const env: { command: string[]; display: string[] } = { command: [], display: [] };
  for (const c of changes) {
    const unusable = (why: string): Planned => ({ ok: false, line: `${c.target}: ${why}; nothing was changed`, code: REFUSE });
    // Digests reach the host's shell: only ever hex (the trail's chain is checked before, too).
    if (![c.before, c.after].every((d) => d === undefined || DIGEST.test(d))) return unusable('its recorded digests are not sha256 digests');
    if (c.kind === 'file') {
      const f = ps.files.find((x) => redact(x.path.display) === c.target);
      if (!f) return unusable('not among the step\'s files as the runbook renders them now (did the inventory or vars change since the run?)');
      if (!c.beforeFile) return unusable('its state before the fix was not captured');
      if (f.sensitive) return unusable('a sensitive file: its content was never kept, so it cannot be restored');
      const content = c.beforeFile.exists && c.before ? readCapture(c.before) : undefined;
      if (c.beforeFile.exists && !content) return unusable(`its content before the fix (sha256 ${short(c.before)}) is not in the capture store`);
      if (content && content.length > UNDO_MAX_BYTES) return unusable(`${content.length} bytes: larger than the ${UNDO_MAX_BYTES} bytes undo restores`);
      const link = c.beforeFile.link;
      const refused = (why: string): string => `changed="$changed"${shellQuote(`${c.target}: ${why}, so it is not undone; nothing was changed\n`)}`;
      const linkCheck = (p: string): string =>
        link === undefined
          ? `if [ -L ${p} ]; then ${refused('a symlink now, and not before the fix')}; fi`
          : `if [ ! -L ${p} ]; then ${refused(`no longer a symlink to ${link} (a fix that rewrites the link itself cannot be undone: undo does not recreate links)`)}; elif [ "$(readlink -- ${p})" != ${shellQuote(link)} ]; then ${refused(`its symlink no longer points to ${link}`)}; fi`;
      targets.push({
        label: c.target,
        now: { command: fileDigest(f.path.command), display: fileDigest(f.path.display) },
        before: c.before ?? ABSENT,
        after: c.after ?? ABSENT,
        linkCheck: { command: linkCheck(f.path.command), display: linkCheck(f.path.display) },
      });
      restores.push(restoreFile(f.path, c.beforeFile, c.before, content, c.after ?? ABSENT));
      if (content && ps.files.length === 1 && !ps.snapshot.length) preview = contentPreview(content);
    } else {
      const k = ps.snapshot.findIndex((x) => snapshotLabel(redact(x.display)) === c.target);
      if (k < 0) return unusable('not among the step\'s snapshots as the runbook renders them now (did the inventory or vars change since the run?)');
      if (!ps.undo) return unusable('the step has no undo command to put it back');
      const s = ps.snapshot[k]!;
      targets.push({ label: c.target, now: { command: snapshotDigest(s.command), display: snapshotDigest(s.display) }, before: c.before ?? ABSENT, after: c.after ?? ABSENT });
      const content = c.before ? readCapture(c.before) : undefined;
      if (!content) return unusable(`its output before the fix (sha256 ${short(c.before)}) is not in the capture store`);
      if (content.length > UNDO_MAX_BYTES || content.includes(0)) return unusable(`its output before the fix cannot be passed to undo (${content.length} bytes, at most ${UNDO_MAX_BYTES}, no NUL)`);
      const text = content.toString('utf8');
      env.command.push(`BEFORE_${k + 1}=${shellQuote(text)}`);
      env.display.push(`BEFORE_${k + 1}=${shellQuote(redact(text))}`);
    }
  }
  const fix = [...restores];
  if (ps.undo) {
    const briefEnv = env.display.map((l) => `${l.slice(0, l.indexOf('='))}=<captured before the fix>`);
    fix.push({
      command: [...env.command, ps.undo.command].join('\n'),
      display: [...env.display, ps.undo.display].join('\n'),
      brief: [...briefEnv, ps.undo.brief ?? ps.undo.display].join('\n'),
    });
  }
  return { ok: true, targets, fix, ...(preview ? { preview } : {}) };
}

/** The undo step's source: a plain step (no fleet control), named for the step it undoes. */
function undoSource(original: Step, continueOnFailure: boolean): Step {
  return {
    name: undoStepName(original.name),
    pos: original.pos,
    check: { text: '', pos: original.pos },
    fix: [],
    continueOnFailure,
    needs: [],
    once: false,
    json: false,
    notify: [],
    files: [],
    snapshot: [],
    refuseExit: REFUSE,
  };
}

export const undoStepName = (step: string): string => `undo: ${step}`;

/**
 * The undo plan: for each host, the steps the run fixed there, latest first. `plan` is the
 * runbook's own plan for these hosts (apply or dry-run mode), rendered as for an apply.
 */
export function undoPlan(plan: Plan, fixedByHost: ReadonlyMap<string, readonly FixedStep[]>, readCapture: ReadCapture, redact: Redact): Plan {
  const order = [...plan.steps].reverse();
  const registered = new Set([...plan.steps, ...plan.handlers].flatMap((s) => (s.register ? [s.register] : [])));
  const sources = new Map<string, Step>();
  const hosts: HostPlan[] = [];
  for (const hp of plan.hosts) {
    const fixed = fixedByHost.get(hp.host.name) ?? [];
    const steps: PlannedStep[] = [];
    // Latest first: the reverse of the order the run fixed them in (for an undo run, whose order
    // was already reversed, that is the runbook's order again).
    for (const f of [...fixed].reverse()) {
      const original = order.find((s) => s.name === f.step);
      const ps = hp.steps.find((s) => s.name === f.step);
      if (!original || !ps) continue;
      const index = order.indexOf(original);
      const name = undoStepName(ps.name);
      const u = planUndo(ps, f, readCapture, redact, registered);
      // A fix with no undo by design does not keep the others from being undone.
      const source = sources.get(name) ?? undoSource(original, !u.ok && u.line.startsWith('no undo'));
      sources.set(name, source);
      const check = u.ok ? stateCheck(u.targets) : said(u.line, u.code);
      const verify = u.ok ? stateCheck(u.targets, true) : check;
      steps.push({
        index,
        name,
        source,
        check,
        fix: u.ok ? u.fix : [],
        verify,
        ...(ps.timeoutMs !== undefined ? { timeoutMs: ps.timeoutMs } : {}),
        become: ps.become,
        continueOnFailure: source.continueOnFailure,
        needs: [],
        // Captured around the undo too: it shows its diff, and is itself on the record.
        files: u.ok ? ps.files : [],
        snapshot: u.ok ? ps.snapshot : [],
        ...(u.ok && u.preview ? { preview: u.preview } : {}),
      });
    }
    if (steps.length) hosts.push({ host: hp.host, steps });
  }
  const steps = order.map((s) => sources.get(undoStepName(s.name)) ?? undoSource(s, false));
  const { deps } = runbookDeps({ steps, handlers: [] });
  return { ...plan, steps, handlers: [], deps, hosts };
}

/**
 * What a fix changed, shown honestly: the files a step declares (content, mode, owner, symlink
 * target) and the output of its snapshot commands are captured on the host before the fix and
 * after it, and compared as unified diffs. A preview command's output stands in for "after" in a
 * dry run. Captures are bounded; a sensitive file is only ever digested on the host. Content is
 * kept content-addressed by the caller's store (for undo); events carry digests and masked diffs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';

import type { PlannedStep, RenderedCommand } from './plan.js';
import { neutralize, type Redact } from './sanitize.js';
import type { FileState } from './events.js';

/** Bytes of a file's content captured (past this the diff says it was cut). */
export const CAPTURE_MAX_BYTES = 256 * 1024;
/** Lines of a diff shown; a longer one is cut, with how much was left out. */
const DIFF_MAX_LINES = 200;
/** …and of characters (one long line is no less a flood). */
const DIFF_MAX_CHARS = 32 * 1024;

export interface Capture {
  /** The path or the snapshot command, masked: what the operator reads. */
  target: string;
  kind: 'file' | 'snapshot';
  exists: boolean;
  link?: string;
  mode?: string;
  owner?: string;
  /** sha256 of the whole content (a file's as the host computed it). */
  sha256?: string;
  /** The captured content (absent for a sensitive file). */
  content?: Buffer;
  truncated?: boolean;
  /** Why it could not be captured. */
  problem?: string;
}

/** One change as events carry it: digests and a masked, bounded diff. */
export interface Change {
  target: string;
  kind: 'file' | 'snapshot' | 'preview';
  before?: string;
  after?: string;
  /** A file's state before the fix besides its content: what undo restores. */
  beforeFile?: FileState;
  diff: string;
}

/** Where captured content is kept by digest (the CLI's state directory); returns the digest. */
export type CaptureStore = (content: Buffer) => string;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * The host-side script for one file; its path is a rendered shell word (literal parts are checked
 * to be one word when the runbook loads). Only a regular file no larger than the cap is ever
 * opened: a FIFO, a device (opening /dev/watchdog arms it), a directory or a huge file is named,
 * never read. Every field is on its own line, the content and link as base64, so what the file
 * holds cannot pass for a field.
 */
function fileScript(path: string, sensitive: boolean): string {
  return [
    `p=${path}`,
    `if [ -L "$p" ]; then printf 'link %s\\n' "$(printf '%s' "$(readlink -- "$p")" | base64 | tr -d '\\n')"; fi`,
    `if [ ! -e "$p" ]; then echo absent`,
    `elif [ ! -f "$p" ]; then echo notfile`,
    `elif [ ! -r "$p" ]; then echo unreadable`,
    `elif [ "$(stat -L -c %s -- "$p")" -gt ${CAPTURE_MAX_BYTES} ]; then stat -L -c 'stat %a %U:%G' -- "$p"; echo toolarge`,
    `else`,
    `  stat -L -c 'stat %a %U:%G' -- "$p"`,
    ...(sensitive ? [] : [`  printf 'content '; base64 < "$p" | tr -d '\\n'; echo`]),
    `  printf 'sha256 %s\\n' "$(sha256sum < "$p" | cut -d' ' -f1)"`,
    `fi`,
  ].join('\n');
}

const WHY: Record<string, string> = {
  notfile: 'not a regular file (a directory, device or FIFO is never opened)',
  unreadable: 'not readable by the user the step runs as',
  toolarge: `larger than ${CAPTURE_MAX_BYTES} bytes: not captured`,
};
const LINK_MAX = 4096;

/** A file's capture from what the host printed; every field checked, anything else a problem. */
function parseFile(target: string, stdout: string, sensitive: boolean, redact: Redact): Capture {
  const c: Capture = { target, kind: 'file', exists: true };
  let content: Buffer | undefined;
  for (const line of stdout.split('\n')) {
    const [word = '', ...rest] = line.split(' ');
    const value = rest.join(' ');
    if (word === 'absent') c.exists = false;
    else if (WHY[word]) c.problem = WHY[word];
    else if (word === 'link') c.link = neutralize(redact(Buffer.from(value, 'base64').toString('utf8'))).slice(0, LINK_MAX);
    else if (word === 'stat' && /^[0-7]{3,4} [^\s:]{1,64}:[^\s:]{1,64}$/.test(value)) [c.mode, c.owner] = value.split(' ');
    else if (word === 'sha256' && /^[0-9a-f]{64}$/.test(value)) c.sha256 = value;
    else if (word === 'content') content = Buffer.from(value, 'base64');
  }
  if (!c.exists || c.problem) return c;
  if (!c.mode || !c.sha256 || (!sensitive && !content)) return { ...c, problem: 'could not be read (the host lacks stat, base64 or sha256sum?)' };
  // Read twice on the host (content, then hash): a file that changed in between is not one capture.
  if (content && sha(content) !== c.sha256) return { ...c, problem: 'changed while it was captured' };
  return content ? { ...c, content } : c;
}

type Exec = (cmd: RenderedCommand) => Promise<{ ok: boolean; stdout: string; truncated: boolean; why: string }>;

/**
 * What a snapshot is called in diffs and the audit trail: its first line when that is a comment
 * (`# the filter table of each backend`), else the command itself. A long script reads better by
 * its name, and undo finds the snapshot again by it.
 */
export function snapshotLabel(display: string): string {
  const m = /^#[ \t]*(\S[^\n]*)/.exec(display);
  return m ? m[1]!.trim() : display;
}

const CUT = 'its capture was cut: the host sent more than expected';

/**
 * Captures every file and snapshot of the step, one read-only command each. `files`: the step's
 * files as a preview captured them just before (capturePreview), instead of reading them again.
 */
export async function captureStep(ps: PlannedStep, exec: Exec, ctx: { redact: Redact }, files?: readonly Capture[]): Promise<Capture[]> {
  const out: Capture[] = [...(files ?? [])];
  for (const f of files ? [] : ps.files) {
    const target = ctx.redact(f.path.display);
    const ran = await exec({ command: fileScript(f.path.command, f.sensitive), display: fileScript(f.path.display, f.sensitive) });
    if (!ran.ok || ran.truncated) out.push({ target, kind: 'file', exists: false, problem: ran.ok ? CUT : ran.why });
    else out.push(parseFile(target, ran.stdout, f.sensitive, ctx.redact));
  }
  for (const s of ps.snapshot) {
    const target = snapshotLabel(ctx.redact(s.display));
    const ran = await exec(s);
    // Compared as the text the host printed; an output cut by the transport's bound is said to be.
    const content = Buffer.from(ran.stdout, 'utf8');
    out.push(ran.ok ? { target, kind: 'snapshot', exists: true, sha256: sha(content), content, truncated: ran.truncated } : { target, kind: 'snapshot', exists: false, problem: ran.why });
  }
  return out;
}

/**
 * A preview in one read-only command: the step's one file captured (its script in a subshell of
 * its own, so nothing of it reaches the preview), a marker line with a nonce, then the preview as
 * written, whose exit status is the command's. Returns the file as it is, and the change the
 * preview says the fix would make. The file's lines are fields and base64, so only the marker can
 * end them; output past the transport's bound keeps its tail, so a cut output has lost the file.
 */
export async function capturePreview(ps: PlannedStep, preview: RenderedCommand, exec: Exec, ctx: { redact: Redact }): Promise<{ current: Capture; change: Change } | undefined> {
  const f = ps.files[0];
  if (!f) return undefined;
  const target = ctx.redact(f.path.display);
  const mark = `runbook-preview-${randomBytes(6).toString('hex')}`;
  const script = (path: string, cmd: string): string => `(\n${fileScript(path, f.sensitive)}\n)\necho ${mark}\n${cmd}`;
  const ran = await exec({ command: script(f.path.command, preview.command), display: script(f.path.display, preview.display) });
  // Where the marker line starts, or -1 (the file's part is before it, the preview's after it).
  const at = `\n${ran.stdout}`.indexOf(`\n${mark}\n`);
  const unread = (problem: string): Capture => ({ target, kind: 'file', exists: false, problem });
  const current = ran.truncated ? unread(CUT) : at >= 0 ? parseFile(target, ran.stdout.slice(0, at), f.sensitive, ctx.redact) : unread(ran.ok ? 'could not be read: its capture did not finish' : ran.why);
  const no = (why: string) => ({ current, change: { target, kind: 'preview' as const, diff: neutralize(`no preview: ${why}`) } });
  if (!ran.ok) return no(ran.why);
  if (at < 0) return no(current.problem ?? 'its output was not found');
  const previewed = ran.stdout.slice(at + mark.length + 1);
  return { current, change: previewChange(current, previewed, ctx.redact) ?? { target, kind: 'preview', diff: `${target}: no change` } };
}

/** Keeps the content of each capture in the store (sensitive ones have none). */
export function storeCaptures(captures: readonly Capture[], store: CaptureStore | undefined): void {
  if (!store) return;
  for (const c of captures) if (c.content && !c.truncated) store(c.content);
}

function attrs(c: Capture): string[] {
  if (!c.exists) return ['(absent)'];
  return [`mode ${c.mode ?? '?'}`, `owner ${c.owner ?? '?'}`, ...(c.link !== undefined ? [`link → ${c.link}`] : [])];
}

function textOf(c: Capture): string | undefined {
  if (!c.content || c.content.includes(0)) return undefined;
  return c.content.toString('utf8');
}

/** A unified diff, masked and neutralised, bounded to DIFF_MAX_LINES. */
function unified(label: string, a: string, b: string, redact: (s: string) => string): string {
  const patch = createTwoFilesPatch(label, label, redact(a), redact(b), 'before', 'after', { context: 3 });
  const lines = patch.split('\n').filter((l) => !/^={10,}$/.test(l) && !l.startsWith('Index: '));
  while (lines.length && lines.at(-1) === '') lines.pop();
  const cut = lines.length > DIFF_MAX_LINES ? [...lines.slice(0, DIFF_MAX_LINES), `… ${lines.length - DIFF_MAX_LINES} more lines`] : lines;
  const text = neutralize(cut.join('\n'));
  return text.length > DIFF_MAX_CHARS ? `${text.slice(0, DIFF_MAX_CHARS)}\n… cut at ${DIFF_MAX_CHARS} characters` : text;
}

function fileState(c: Capture): FileState {
  return { exists: c.exists, ...(c.mode ? { mode: c.mode } : {}), ...(c.owner ? { owner: c.owner } : {}), ...(c.link !== undefined ? { link: c.link } : {}) };
}

/** What changed between two captures of the same target; undefined when nothing did. */
export function changeBetween(before: Capture, after: Capture, redact: (s: string) => string, kind: Change['kind'] = before.kind): Change | undefined {
  const digests = {
    ...(before.sha256 ? { before: before.sha256 } : {}),
    ...(after.sha256 ? { after: after.sha256 } : {}),
    ...(kind === 'file' && !before.problem ? { beforeFile: fileState(before) } : {}),
  };
  if (before.problem || after.problem) return { target: before.target, kind, ...digests, diff: neutralize(`${before.target}: not compared: ${redact(before.problem ?? after.problem ?? '')}`) };
  const a = attrs(before).join(', ');
  const b = attrs(after).join(', ');
  if (before.sha256 === after.sha256 && a === b && before.exists === after.exists) return undefined;
  const head = a === b ? [] : [`${before.target}: ${a} → ${b}`];
  if (before.sha256 === after.sha256) return { target: before.target, kind, ...digests, diff: neutralize(head.join('\n')) };
  const ta = before.exists ? textOf(before) : '';
  const tb = after.exists ? textOf(after) : '';
  const body =
    ta === undefined || tb === undefined
      ? `${before.target}: content changed (sha256 ${before.sha256?.slice(0, 12) ?? '-'} → ${after.sha256?.slice(0, 12) ?? '-'}; ${before.content || after.content ? 'binary' : 'sensitive: not shown'})`
      : unified(before.target, ta, tb, redact);
  const cut = before.truncated || after.truncated ? [`(its output was cut at the transport's bound: only what was captured was compared)`] : [];
  return { target: before.target, kind, ...digests, diff: neutralize([...head, body, ...cut].join('\n')) };
}

/** Every change between the captures taken before and after a fix. */
export function changesBetween(before: Capture[], after: Capture[], redact: (s: string) => string): Change[] {
  return before.flatMap((b, i) => {
    const c = after[i] ? changeBetween(b, after[i], redact) : undefined;
    return c ? [c] : [];
  });
}

/** A preview: the file as it is against what the preview command says it would become. */
export function previewChange(current: Capture, previewed: string, redact: (s: string) => string): Change | undefined {
  const content = Buffer.from(previewed, 'utf8');
  const would: Capture = { ...current, exists: true, sha256: sha(content), content, truncated: false };
  return changeBetween(current, would, redact, 'preview');
}


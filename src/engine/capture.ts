/**
 * What a fix changed, shown honestly: the files a step declares (content, mode, owner, symlink
 * target) and the output of its snapshot commands are captured on the host before the fix and
 * after it, and compared as unified diffs. A preview command's output stands in for "after" in a
 * dry run. Captures are bounded; a sensitive file is only ever digested on the host. Content is
 * kept content-addressed by the caller's store (for undo); events carry digests and masked diffs.
 */
import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';

import type { PlannedStep, RenderedCommand } from './plan.js';
import { neutralize, type Redact } from './sanitize.js';

/** Bytes of a file's content captured (past this the diff says it was cut). */
export const CAPTURE_MAX_BYTES = 256 * 1024;
/** Lines of a diff shown; a longer one is cut, with how much was left out. */
const DIFF_MAX_LINES = 200;

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
  diff: string;
}

/** Where captured content is kept by digest (the CLI's state directory); returns the digest. */
export type CaptureStore = (content: Buffer) => string;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The host-side script for one file: its path is a rendered shell word. */
function fileScript(path: string, sensitive: boolean): string {
  return [
    `p=${path}`,
    `if [ -L "$p" ]; then printf 'link %s\\n' "$(printf '%s' "$(readlink -- "$p")" | base64 | tr -d '\\n')"; fi`,
    `if [ -e "$p" ]; then`,
    `  stat -L -c 'stat %a %U:%G' -- "$p" && printf 'sha256 %s\\n' "$(sha256sum < "$p" | cut -d' ' -f1)"`,
    ...(sensitive ? [] : [`  printf 'content '; head -c ${CAPTURE_MAX_BYTES + 1} -- "$p" | base64 | tr -d '\\n'; echo`]),
    `else echo absent; fi`,
  ].join('\n');
}

function parseFile(target: string, stdout: string): Capture {
  const c: Capture = { target, kind: 'file', exists: true };
  for (const line of stdout.split('\n')) {
    const [word, ...rest] = line.split(' ');
    const value = rest.join(' ');
    if (word === 'absent') c.exists = false;
    else if (word === 'link') c.link = Buffer.from(value, 'base64').toString('utf8');
    else if (word === 'stat') [c.mode, c.owner] = value.split(' ');
    else if (word === 'sha256') c.sha256 = value;
    else if (word === 'content') {
      const buf = Buffer.from(value, 'base64');
      c.truncated = buf.length > CAPTURE_MAX_BYTES;
      c.content = c.truncated ? buf.subarray(0, CAPTURE_MAX_BYTES) : buf;
    }
  }
  return c;
}

type Exec = (cmd: RenderedCommand) => Promise<{ ok: boolean; stdout: string; why: string }>;

/** Captures every file and snapshot of the step, one read-only command each. */
export async function captureStep(ps: PlannedStep, exec: Exec, ctx: { redact: Redact }): Promise<Capture[]> {
  const out: Capture[] = [];
  for (const f of ps.files) {
    const target = ctx.redact(f.path.display);
    const ran = await exec({ command: fileScript(f.path.command, f.sensitive), display: fileScript(f.path.display, f.sensitive) });
    out.push(ran.ok ? parseFile(target, ran.stdout) : { target, kind: 'file', exists: false, problem: ran.why });
  }
  for (const s of ps.snapshot) {
    const target = ctx.redact(s.display);
    const ran = await exec(s);
    const content = Buffer.from(ran.stdout, 'utf8');
    out.push(ran.ok ? { target, kind: 'snapshot', exists: true, sha256: sha(content), content } : { target, kind: 'snapshot', exists: false, problem: ran.why });
  }
  return out;
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
  return neutralize(cut.join('\n'));
}

/** What changed between two captures of the same target; undefined when nothing did. */
export function changeBetween(before: Capture, after: Capture, redact: (s: string) => string, kind: Change['kind'] = before.kind): Change | undefined {
  const digests = { ...(before.sha256 ? { before: before.sha256 } : {}), ...(after.sha256 ? { after: after.sha256 } : {}) };
  if (before.problem || after.problem) return { target: before.target, kind, ...digests, diff: `not captured: ${redact(before.problem ?? after.problem ?? '')}` };
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
  const cut = before.truncated || after.truncated ? [`(only the first ${CAPTURE_MAX_BYTES} bytes were compared)`] : [];
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


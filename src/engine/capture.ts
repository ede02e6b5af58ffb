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
import { shellQuote } from '../model/shell-quote.js';
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
 * The host-side script for one file, on one line (so a capture in a command's shell needs no
 * `printf` to keep the command's line numbers: capturePrelude); its path is a rendered shell word
 * (literal parts are checked to be one word when the runbook loads). Only a regular file no
 * larger than the cap is ever opened: a FIFO, a device (opening /dev/watchdog arms it), a
 * directory or a huge file is named, never read. Every field is a line of `word value`; the link
 * target and the content follow their field as base64 lines, which hold no space, so what the
 * file holds cannot pass for a field. Few processes, as each fork costs milliseconds on a loaded
 * host and a fix reads its files twice: one `stat` for size, mode and owner, then one `base64`
 * (the content is read once, and its digest computed here from what arrived); a sensitive file
 * gets one `sha256sum` instead, whose line is its own `<hex>  -`.
 */
function fileScript(path: string, sensitive: boolean): string {
  return [
    `p=${path};`,
    `if [ -L "$p" ]; then echo 'link -'; readlink -- "$p" | base64; fi;`,
    `if [ ! -e "$p" ]; then echo 'state absent';`,
    `elif [ ! -f "$p" ]; then echo 'state notfile';`,
    `elif [ ! -r "$p" ]; then echo 'state unreadable';`,
    `else st=$(stat -L -c '%s stat %a %U:%G' -- "$p"); printf '%s\\n' "\${st#* }";`,
    // Without a size (no stat) nothing more is printed: the missing mode says the file could not be read.
    `case \${st%% *} in ''|*[!0-9]*) ;; *)`,
    `if [ "\${st%% *}" -gt ${CAPTURE_MAX_BYTES} ]; then echo 'state toolarge';`,
    sensitive ? `else printf 'sha256 '; sha256sum < "$p"; fi;;` : `else echo 'content -'; base64 < "$p"; fi;;`,
    `esac; fi`,
  ].join(' ');
}

const WHY: Record<string, string> = {
  notfile: 'not a regular file (a directory, device or FIFO is never opened)',
  unreadable: 'not readable by the user the step runs as',
  toolarge: `larger than ${CAPTURE_MAX_BYTES} bytes: not captured`,
};
const LINK_MAX = 4096;
const BASE64_LINE = /^[A-Za-z0-9+/=]*$/;

/** A file's capture from what the host printed; every field checked, anything else a problem. */
function parseFile(target: string, stdout: string, sensitive: boolean, redact: Redact): Capture {
  const c: Capture = { target, kind: 'file', exists: true };
  // The base64 lines after `link -` and `content -`, until the next field.
  const blobs: { link?: string; content?: string } = {};
  let blob: keyof typeof blobs | undefined;
  let garbled = false;
  for (const line of stdout.split('\n')) {
    if (!line.includes(' ')) {
      if (blob && BASE64_LINE.test(line)) blobs[blob] += line;
      else if (blob || line !== '') garbled = true;
      continue;
    }
    const [word = '', ...rest] = line.split(' ');
    const value = rest.join(' ');
    blob = undefined;
    if (word === 'state' && value === 'absent') c.exists = false;
    else if (word === 'state' && WHY[value]) c.problem = WHY[value];
    else if ((word === 'link' || word === 'content') && value === '-' && blobs[word] === undefined) [blob, blobs[word]] = [word, ''];
    else if (word === 'stat' && /^[0-7]{3,4} [^\s:]{1,64}:[^\s:]{1,64}$/.test(value)) [c.mode, c.owner] = value.split(' ');
    else if (word === 'sha256' && sensitive && /^[0-9a-f]{64} {2}-$/.test(value)) c.sha256 = value.slice(0, 64);
    else garbled = true;
  }
  // readlink's output: the target and the newline readlink ends it with.
  if (blobs.link !== undefined) c.link = neutralize(redact(Buffer.from(blobs.link, 'base64').toString('utf8').replace(/\n$/, ''))).slice(0, LINK_MAX);
  if (!c.exists || c.problem) return c;
  const content = sensitive || blobs.content === undefined ? undefined : Buffer.from(blobs.content, 'base64');
  if (garbled || !c.mode || (sensitive ? !c.sha256 : !content)) return { ...c, problem: 'could not be read (the host lacks stat, base64 or sha256sum?)' };
  // Checked for size before it was read: one that grew past the bound in between is not captured.
  if (content && content.length > CAPTURE_MAX_BYTES) return { ...c, problem: WHY.toolarge! };
  return content ? { ...c, sha256: sha(content), content } : c;
}

/** `exited`: the shell ended with an exit status (not killed, timed out or lost). */
type Exec = (cmd: RenderedCommand) => Promise<{ ok: boolean; exited: boolean; stdout: string; truncated: boolean; why: string }>;

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

/** Captures every file and snapshot of the step, one read-only command each. */
export async function captureStep(ps: PlannedStep, exec: Exec, ctx: { redact: Redact }): Promise<Capture[]> {
  const out: Capture[] = [];
  for (const f of ps.files) {
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
 * Captures run in the same shell as a command, just before it: one session instead of two. Each
 * capture (the step's files, then its snapshots, as captureStep orders them) is eval'd in a
 * subshell of its own, stdin from /dev/null and stderr dropped: a snapshot that does not parse
 * (a bash-ism under dash) or exits ends its subshell only, and nothing of it reaches the command.
 * All of it is on the command's first line, so the shell's line numbers in the command's errors
 * are its own. A marker line follows each capture: a nonce, the capture's index and its exit
 * status, printed from two words, so the line is in the output once printed and never in the
 * command's text (which a snapshot of the host's processes may show). The command's exit status
 * is the whole's. Output past the transport's bound keeps its tail: a capture whose start was cut
 * off is named as cut, and the command's own output is whole once the last marker is in it.
 */
export interface CapturePrelude {
  /** The captures, then `cmd`, as one command (and its display). */
  wrap(cmd: RenderedCommand): RenderedCommand;
  /**
   * The captures from what the host printed, and the command's own output. `exited`: the shell
   * ended with an exit status (so it reached the command). `why`: the outcome, for a capture that
   * did not finish. `ran`: the command itself started (the last marker is in).
   */
  split(stdout: string, truncated: boolean, exited: boolean, why: string): { captures: Capture[]; stdout: string; truncated: boolean; ran: boolean };
}

/**
 * A script as one shell word for `eval`, on one line: a script of one line quoted as it is, a
 * longer one rebuilt by `printf` from its quoted lines (one more fork, but a quoted newline would
 * move the line numbers of the command after it).
 */
function evalText(script: string): string {
  return script.includes('\n') ? `"$(printf '%s\\n' ${script.split('\n').map(shellQuote).join(' ')})"` : shellQuote(script);
}

export function capturePrelude(parts: Pick<PlannedStep, 'files' | 'snapshot'>, ctx: { redact: Redact }): CapturePrelude {
  const nonce = randomBytes(6).toString('hex');
  const mark = `runbook-capture-${nonce}`;
  const scripts = [...parts.files.map((f) => ({ command: fileScript(f.path.command, f.sensitive), display: f.path.display })), ...parts.snapshot];
  const targets = [...parts.files.map((f) => f.path.display), ...parts.snapshot.map((s) => snapshotLabel(s.display).split('\n')[0]!)];
  return {
    // Recorded as the command with a note of what was read first: its first line stays the
    // command's (what the history and reports show), and the captures' scripts are runbook's own.
    wrap: (cmd) => ({
      ...cmd,
      command:
        scripts.map((s, i) => `(eval ${evalText(s.command)}) </dev/null 2>/dev/null; printf '\\n%s-%s %s %s\\n' runbook-capture ${nonce} ${i} "$?"; `).join('') + cmd.command,
      display: `${cmd.display}\n# read first, in the same shell (runbook's capture): ${targets.join(', ')}`,
    }),
    split(stdout, truncated, exited, why) {
      const captures: Capture[] = [];
      // Where the next part starts, and whether its start is there (a cut keeps only the tail).
      let pos = 0;
      let whole = !truncated;
      let found = scripts.length === 0;
      for (const [i, s] of scripts.entries()) {
        const file = i < parts.files.length ? parts.files[i] : undefined;
        const target = file ? ctx.redact(file.path.display) : snapshotLabel(ctx.redact(s.display));
        const kind = file ? ('file' as const) : ('snapshot' as const);
        const head = `\n${mark} ${i} `;
        const at = stdout.indexOf(head, pos);
        const end = at < 0 ? -1 : stdout.indexOf('\n', at + head.length);
        found = end >= 0;
        if (!found) {
          captures.push({ target, kind, exists: false, problem: truncated ? CUT : `could not be read: ${why}` });
          continue;
        }
        const text = whole ? stdout.slice(pos, at) : undefined;
        const code = stdout.slice(at + head.length, end);
        [pos, whole] = [end + 1, true];
        if (text === undefined) captures.push({ target, kind, exists: false, problem: CUT });
        else if (code !== '0') captures.push({ target, kind, exists: false, problem: `its capture exited ${/^\d{1,3}$/.test(code) ? code : '?'}` });
        else if (file) captures.push(parseFile(target, text, file.sensitive, ctx.redact));
        else {
          const content = Buffer.from(text, 'utf8');
          captures.push({ target, kind, exists: true, sha256: sha(content), content, truncated: false });
        }
      }
      if (found) return { captures, stdout: stdout.slice(pos), truncated: truncated && scripts.length === 0, ran: true };
      // No last marker. The shell exited and the output was cut: the marker was printed and cut off,
      // so what is left is the command's (past what is left of the marker line, if any). Otherwise
      // the shell stopped before the command: nothing of it is the command's (it may be file content).
      if (!truncated || !exited) return { captures, stdout: '', truncated: false, ran: false };
      // The first line kept may be the end of the last marker's: `…<nonce> <index> <status>`.
      const nl = stdout.indexOf('\n');
      const piece = nl < 0 ? undefined : /^(.*?)\d{0,3}$/.exec(stdout.slice(0, nl));
      const ofMarker = piece !== undefined && piece !== null && nl <= mark.length + 8 && `${mark} ${scripts.length - 1} `.endsWith(piece[1]!);
      return { captures, stdout: ofMarker ? stdout.slice(nl + 1) : stdout, truncated, ran: true };
    },
  };
}

/**
 * A preview in one read-only command: the step's one file captured (capturePrelude), then the
 * preview as written, whose exit status is the command's. Returns the change the preview says the
 * fix would make to the file as it is.
 */
export async function capturePreview(ps: PlannedStep, preview: RenderedCommand, exec: Exec, ctx: { redact: Redact }): Promise<Change | undefined> {
  const f = ps.files[0];
  if (!f) return undefined;
  const target = ctx.redact(f.path.display);
  const prelude = capturePrelude({ files: [f], snapshot: [] }, ctx);
  const ran = await exec(prelude.wrap(preview));
  const split = prelude.split(ran.stdout, ran.truncated, ran.exited, ran.ok ? 'its capture did not finish' : ran.why);
  const current = split.captures[0]!;
  const no = (why: string): Change => ({ target, kind: 'preview', diff: neutralize(`no preview: ${why}`) });
  if (!ran.ok) return no(ran.why);
  if (!split.ran) return no(current.problem ?? 'its output was not found');
  return previewChange(current, split.stdout, ctx.redact) ?? { target, kind: 'preview', diff: `${target}: no change` };
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
export function changesBetween(before: readonly Capture[], after: readonly Capture[], redact: (s: string) => string): Change[] {
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


/**
 * "Commit confirmed" for a fix that may cut the connection it runs over (a firewall rule, an
 * interface, the overlay): a step with `confirm: 60s` arms a watchdog on the host before its fix.
 * The watchdog, started detached in a session of its own, puts back the state captured before the
 * fix (its files restored, its undo run with the snapshots) when the time is up, unless the
 * controller confirmed first. The controller confirms once the verify passed over the same
 * connection; a fix or verify that failed is reverted at once. Confirming and reverting both
 * start by removing the "armed" file: unlink is atomic, so exactly one of them ever happens.
 * The commands are built here; host-run.ts runs them.
 */
import { randomBytes } from 'node:crypto';
import type { Capture } from './capture.js';
import type { PlannedStep, RenderedCommand } from './plan.js';
import { restoreFile, UNDO_MAX_BYTES } from './undo.js';
import { shellQuote } from '../model/shell-quote.js';
import type { Redact } from './sanitize.js';

/**
 * Where a watchdog's files live on the host: named by the controller, so that it can disarm a
 * watchdog whose arming got no answer, and never a path the host chose.
 */
export const CONFIRM_PREFIX = '/tmp/runbook-confirm.';
export const newConfirmToken = (): string => `${CONFIRM_PREFIX}${randomBytes(8).toString('hex')}`;
/** The revert script's size at most, within one command line (128 KiB) with room for the rest. */
const MAX_SCRIPT_BYTES = 112 * 1024;
/** The log line a watchdog writes when it put the state back. */
export const REVERTED = 'reverted';

/**
 * The script that puts back what `before` captured: every file restored (whatever the fix left),
 * then the step's undo with $BEFORE_n. A reason instead when it cannot be done: the fix must then
 * not run, since nothing could bring the host back if it cut the connection.
 */
export function revertScript(ps: PlannedStep, before: readonly Capture[], redact: Redact): RenderedCommand | { problem: string } {
  const parts: RenderedCommand[] = [];
  const env = { command: [] as string[], display: [] as string[] };
  for (const [i, c] of before.entries()) {
    if (c.problem) return { problem: `${c.target}: ${c.problem}` };
    if (c.kind === 'file') {
      const f = ps.files[i]!;
      if (f.sensitive) return { problem: `${c.target}: a sensitive file's content is never kept, so it could not be put back` };
      if (c.exists && (!c.content || c.truncated)) return { problem: `${c.target}: its content was not captured` };
      if (c.content && c.content.length > UNDO_MAX_BYTES) return { problem: `${c.target}: larger than the ${UNDO_MAX_BYTES} bytes a watchdog restores` };
      parts.push(restoreFile(f.path, { exists: c.exists, ...(c.mode ? { mode: c.mode } : {}), ...(c.owner ? { owner: c.owner } : {}) }, c.sha256, c.content, 'any'));
    } else {
      const k = i - ps.files.length;
      if (!c.content || c.truncated || c.content.includes(0) || c.content.length > UNDO_MAX_BYTES) return { problem: `${c.target}: its output could not be kept for the watchdog` };
      const text = c.content.toString('utf8');
      env.command.push(`BEFORE_${k + 1}=${shellQuote(text)}`);
      env.display.push(`BEFORE_${k + 1}=${shellQuote(redact(text))}`);
    }
  }
  if (ps.snapshot.length && !ps.undo) return { problem: 'the step has snapshots but no undo to put them back' };
  if (ps.undo) parts.push({ command: [...env.command, ps.undo.command].join('\n'), display: [...env.display, ps.undo.display].join('\n') });
  // The arm command carries it whole, and one command line is at most 128 KiB on Linux.
  const size = parts.reduce((n, p) => n + Buffer.byteLength(p.command), 0);
  if (size > MAX_SCRIPT_BYTES) return { problem: `what it would put back takes ${size} bytes, more than the ${MAX_SCRIPT_BYTES} one command can carry` };
  return { command: parts.map((p) => p.command).join('\n'), display: parts.map((p) => p.display).join('\n') };
}

/** Arms the watchdog at `token`: writes the revert script beside an "armed" file and starts the timer detached; prints "armed". */
export function armCommand(revert: RenderedCommand, seconds: number, token: string): RenderedCommand {
  const end = `RUNBOOK_REVERT_${randomBytes(8).toString('hex')}`;
  const build = (script: string): string =>
    [
      // Without setsid the timer would start and die unseen (it is started in the background):
      // refuse, and the fix does not run.
      `command -v setsid > /dev/null || { echo "setsid is not installed: cannot start the watchdog"; exit 1; }`,
      // mkdir fails on anything already there (a link included): the directory is ours alone.
      `d=${token}`,
      `mkdir -m 700 "$d" || exit 1`,
      `cat > "$d/revert" <<'${end}'`,
      script,
      end,
      // When it fires (epoch seconds): a later run that finds it armed says when (host-lock.ts).
      `echo $(( $(date +%s) + ${seconds} )) > "$d/armed"`,
      // setsid: a session of its own, so that neither sshd closing this channel nor a cut
      // connection takes the timer with it.
      `setsid sh -c 'sleep "$2"; rm "$1/armed" 2>/dev/null || exit 0; if sh "$1/revert" > "$1/log" 2>&1; then echo ${REVERTED} >> "$1/log"; else echo "revert failed: exit $?" >> "$1/log"; fi' sh "$d" ${seconds} < /dev/null > /dev/null 2>&1 &`,
      `echo armed`,
    ].join('\n');
  return { command: build(revert.command), display: build(revert.display), brief: `arm a watchdog that reverts this fix in ${seconds}s unless confirmed` };
}

const tokenCommand = (text: string): RenderedCommand => ({ command: text, display: text });

/** Confirms: disarms the watchdog. Exit 0 only when this removed the armed file; otherwise waits for the watchdog's log and prints it. */
export function confirmCommand(token: string): RenderedCommand {
  return tokenCommand(
    [
      `d=${token}`,
      `if rm "$d/armed" 2>/dev/null; then rm -rf "$d"; echo confirmed; exit 0; fi`,
      `i=0; while [ $i -lt 60 ] && ! grep -q -e '^${REVERTED}$' -e '^revert failed' "$d/log" 2>/dev/null; do sleep 1; i=$((i + 1)); done`,
      `cat "$d/log" 2>/dev/null; rm -rf "$d"; exit 1`,
    ].join('\n'),
  );
}

/**
 * Reverts now (the fix or its verify failed, or the operator stopped it), unless the watchdog
 * already does: then waits for its log (up to 60 s) and prints it. Either way the output ends with
 * "reverted" only when the state was put back.
 */
export function revertNowCommand(token: string): RenderedCommand {
  return tokenCommand(
    [
      `d=${token}`,
      `if rm "$d/armed" 2>/dev/null; then sh "$d/revert" || { echo "revert failed: exit $?"; exit 1; }; rm -rf "$d"; echo ${REVERTED}; exit 0; fi`,
      `i=0; while [ $i -lt 60 ] && ! grep -q -e '^${REVERTED}$' -e '^revert failed' "$d/log" 2>/dev/null; do sleep 1; i=$((i + 1)); done`,
      `cat "$d/log" 2>/dev/null; rm -rf "$d"`,
    ].join('\n'),
  );
}

/** Disarms a watchdog whose arming went wrong (its fix never ran); harmless when there is none. */
export function disarmCommand(token: string): RenderedCommand {
  return tokenCommand(`rm -f ${token}/armed; rm -rf ${token}`);
}

/** After a lost connection: what the watchdog did (its files are removed once it has). */
export function watchdogLogCommand(token: string): RenderedCommand {
  return tokenCommand(`d=${token}\nif [ -e "$d/armed" ]; then echo "still armed"; else cat "$d/log" 2>/dev/null && rm -rf "$d"; fi`);
}

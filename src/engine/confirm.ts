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

/** Where the watchdog's files live on the host, as the arm command printed it. */
const TOKEN = /^\/[A-Za-z0-9._/-]{1,200}\/runbook-confirm\.[A-Za-z0-9]{6,}$/;
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
  return { command: parts.map((p) => p.command).join('\n'), display: parts.map((p) => p.display).join('\n') };
}

/** Arms the watchdog: writes the revert script beside an "armed" file and starts the timer detached; prints the token. */
export function armCommand(revert: RenderedCommand, seconds: number): RenderedCommand {
  const end = `RUNBOOK_REVERT_${randomBytes(8).toString('hex')}`;
  const build = (script: string): string =>
    [
      // Without setsid the timer would start and die unseen (it is started in the background):
      // refuse, and the fix does not run.
      `command -v setsid > /dev/null || { echo "setsid is not installed: cannot start the watchdog"; exit 1; }`,
      `d=$(mktemp -d "\${TMPDIR:-/tmp}/runbook-confirm.XXXXXXXX") || exit 1`,
      `cat > "$d/revert" <<'${end}'`,
      script,
      end,
      `: > "$d/armed"`,
      // setsid: a session of its own, so that neither sshd closing this channel nor a cut
      // connection takes the timer with it.
      `setsid sh -c 'sleep "$2"; rm "$1/armed" 2>/dev/null || exit 0; if sh "$1/revert" > "$1/log" 2>&1; then echo ${REVERTED} >> "$1/log"; else echo "revert failed: exit $?" >> "$1/log"; fi' sh "$d" ${seconds} < /dev/null > /dev/null 2>&1 &`,
      `echo "$d"`,
    ].join('\n');
  return { command: build(revert.command), display: build(revert.display), brief: `arm a watchdog that reverts this fix in ${seconds}s unless confirmed` };
}

/** The token the arm command printed, or undefined when it is not one (a host is never trusted with a path). */
export function confirmToken(stdout: string): string | undefined {
  const t = stdout.trim();
  return TOKEN.test(t) ? t : undefined;
}

const tokenCommand = (text: string): RenderedCommand => ({ command: text, display: text });

/** Confirms: disarms the watchdog. Exit 0 only when this removed the armed file (the watchdog had not fired). */
export function confirmCommand(token: string): RenderedCommand {
  return tokenCommand(`d=${token}\nif rm "$d/armed" 2>/dev/null; then rm -rf "$d"; echo confirmed; else cat "$d/log" 2>/dev/null; echo "the watchdog fired first"; exit 1; fi`);
}

/** Reverts now (the fix or its verify failed), unless the watchdog already did. */
export function revertNowCommand(token: string): RenderedCommand {
  return tokenCommand(`d=${token}\nrm "$d/armed" 2>/dev/null || { cat "$d/log" 2>/dev/null; exit 0; }\nsh "$d/revert" || exit 1\nrm -rf "$d"\necho ${REVERTED}`);
}

/** After a lost connection: what the watchdog did (its files are removed once it has). */
export function watchdogLogCommand(token: string): RenderedCommand {
  return tokenCommand(`d=${token}\nif [ -e "$d/armed" ]; then echo "still armed"; else cat "$d/log" 2>/dev/null && rm -rf "$d"; fi`);
}

/**
 * The run as plain lines, for logs, CI and pipes (the live view needs a terminal): one timestamped
 * line per step result, all on stdout in the order they happen. An unreachable host is said once,
 * with its connection error; its steps are not each given the same error again.
 */
import type { RunEventListener } from '../engine/events.js';
import { neutralize } from '../engine/sanitize.js';
import { stepLine } from './step-line.js';

const clock = (d: Date): string => [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');

export function createPlainView(opts: { glyphs: boolean; write: (text: string) => void; now?: () => Date }): RunEventListener {
  const now = opts.now ?? (() => new Date());
  const unreachable = new Set<string>();
  // Hosts send these strings (registered values in step names, errors): never raw.
  const line = (host: string, text: string): void => opts.write(`${neutralize(`[${clock(now())}] ${host}: ${text}`)}\n`);
  return (e) => {
    if (e.type === 'host-connect' && !e.ok) {
      unreachable.add(e.host);
      line(e.host, `unreachable: ${e.error ?? ''}`);
    } else if (e.type === 'step-result') {
      if (e.status === 'unreachable' && unreachable.has(e.host)) return;
      // A local step ran here, for the host: the line must not read as the host's own doing.
      line(e.local ? `${e.host} (from this machine)` : e.host, stepLine(e.step, e.status, e.reason, { glyphs: opts.glyphs }));
    }
  };
}

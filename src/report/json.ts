/** --json: every event as one JSON line on stdout; run-end (with its per-host summary) is last. */
import type { RunEventListener } from '../engine/events.js';

export function createJsonListener(write: (line: string) => void): RunEventListener {
  return (event) => write(`${JSON.stringify(event)}\n`);
}

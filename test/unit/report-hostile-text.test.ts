/**
 * A compromised host can put escape sequences into values other hosts' commands are rendered
 * with (registered values), and into reasons and errors. Nothing the operator reads on a terminal
 * may carry them: not the approval prompt, not the recap's plan, not the live view.
 */
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/engine/events.js';
import { createRecapCollector, renderRecap } from '../../src/report/recap.js';
import { approvalMessage } from '../../src/report/live.js';

// Retitles the window, writes the clipboard (OSC 52), colours, returns to column 0, reverses text.
const HOSTILE = 'x\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[31mred\rOK \u202eevil';
// eslint-disable-next-line no-control-regex -- the point
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

describe('hostile text on the operator\'s terminal', () => {
  it('the approval prompt shows commands, step, host and reason neutralised', () => {
    const text = approvalMessage(
      { host: `h${HOSTILE}`, step: `s${HOSTILE}`, stepIndex: 0, reason: `check failed: ${HOSTILE}`, checkTail: '', checkOutput: '', commands: [`echo '${HOSTILE}'`] },
      false,
    );
    expect(text).not.toMatch(RAW);
    expect(text).toContain("$ echo 'x^[]0;pwned^G^[]52;c;ZXZpbA==^G^[[31mred^MOK \\u202eevil'");
  });

  it('the recap and its dry-run plan show commands and reasons neutralised', () => {
    const c = createRecapCollector();
    const base = { time: new Date(0).toISOString(), runId: 'r1' };
    const events: RunEvent[] = [
      { type: 'run-start', ...base, runbook: 'rb', runbookFile: 'rb.yaml', runbookHash: 'h', operator: 'me', mode: 'dry-run', hosts: ['a', 'b'], steps: ['s0'] },
      { type: 'step-result', ...base, host: 'a', step: 's0', stepIndex: 0, status: 'would-fix', reason: `check failed: ${HOSTILE}`, fixCommands: [`echo '${HOSTILE}'`], durationMs: 1 },
      { type: 'step-result', ...base, host: 'b', step: 's0', stepIndex: 0, status: 'failed', reason: `fix: ${HOSTILE}`, durationMs: 1 },
    ];
    for (const e of events) c.listener(e);
    const text = renderRecap(c.state);
    expect(text).not.toMatch(RAW);
    expect(text).toContain("$ echo 'x^[]0;pwned^G");
  });
});

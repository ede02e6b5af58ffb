import { describe, expect, it } from 'vitest';
import { createPlainView } from '../../src/report/plain.js';
import type { RunEvent, StepStatus } from '../../src/engine/events.js';

const base = { time: new Date(0).toISOString(), runId: 'r1' };
const result = (host: string, step: string, status: StepStatus, reason?: string): RunEvent => ({
  type: 'step-result',
  ...base,
  host,
  step,
  stepIndex: 0,
  status,
  durationMs: 1,
  ...(reason ? { reason } : {}),
});

function lines(events: RunEvent[], glyphs = false): string[] {
  let out = '';
  const view = createPlainView({ glyphs, write: (t) => (out += t), now: () => new Date(2026, 11, 2, 3, 4, 5) });
  for (const e of events) view(e);
  return out.split('\n').slice(0, -1);
}

describe('plain lines (no terminal)', () => {
  const run: RunEvent[] = [
    { type: 'host-connect', ...base, host: 'gone', ok: false, error: 'gone (root@10.0.0.9:22): connection refused', durationMs: 1 },
    result('gone', 'one', 'unreachable', 'gone (root@10.0.0.9:22): connection refused'),
    result('gone', 'two', 'unreachable', 'gone (root@10.0.0.9:22): connection refused'),
    result('a', 'one', 'fixed'),
    result('a', 'two', 'failed', 'fix: exit code 3: nope'),
    result('a', 'three', 'blocked', 'blocked: "two" failed'),
  ];

  it('says an unreachable host once, gives each result one line, and repeats no status in its reason', () => {
    expect(lines(run)).toEqual([
      '[03:04:05] gone: unreachable: gone (root@10.0.0.9:22): connection refused',
      '[03:04:05] a: one: fixed',
      '[03:04:05] a: two: failed (fix: exit code 3: nope)',
      '[03:04:05] a: three: blocked ("two" failed)',
    ]);
  });

  it('is ASCII unless glyphs are asked for', () => {
    expect(lines(run).join('\n')).toMatch(/^[\x20-\x7e\n]*$/);
    expect(lines(run, true).slice(1)).toEqual(['[03:04:05] a: ✚ one: fixed', '[03:04:05] a: ✖ two: failed (fix: exit code 3: nope)', '[03:04:05] a: ⊘ three: blocked ("two" failed)']);
  });

  it('neutralises what hosts sent', () => {
    expect(lines([result('a', 'one', 'failed', 'check failed: \x1b]52;c;cGF3bmVk\x07 \u202e')])).toEqual(['[03:04:05] a: one: failed (check failed: ^[]52;c;cGF3bmVk^G \\u202e)']);
  });
});

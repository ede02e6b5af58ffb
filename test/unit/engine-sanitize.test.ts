import { describe, expect, it } from 'vitest';
import { lastLines, neutralize, oneLine, outputTail } from '../../src/engine/sanitize.js';
import { judge, matchesExpectation } from '../../src/engine/judge.js';
import type { ExecResult } from '../../src/transport/types.js';

describe('neutralize', () => {
  it('makes escape sequences and control characters visible, keeping newlines and tabs', () => {
    const hostile = 'ok\x1b[2J\x1b]0;pwned\x07\rFake prompt? \x9b31m\u202eevil\tend\n';
    const safe = neutralize(hostile);
    // eslint-disable-next-line no-control-regex -- asserting no control characters survive
    expect(safe).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
    expect(safe).toBe('ok^[[2J^[]0;pwned^G^MFake prompt? \\u009b31m\\u202eevil\tend\n');
  });

  it('oneLine flattens and bounds a reason', () => {
    expect(oneLine('a\nb\x1b[1m', 100)).toBe('a | b^[[1m');
    expect(oneLine('x'.repeat(300), 10)).toHaveLength(10);
  });
});

describe('outputTail', () => {
  it('keeps the last lines, masks secrets before neutralising, digests the full output', () => {
    const out = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n') + '\n';
    const t = outputTail(out, 'token=hunter22\n', false, (s) => s.replaceAll('hunter22', '********'), 3);
    expect(t.tail).toBe('line 28\nline 29\ntoken=********');
    expect(t.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(lastLines('', 3)).toBe('');
  });
});

describe('judge', () => {
  const r = (over: Partial<ExecResult>): ExecResult => ({
    outcome: 'exit',
    code: 0,
    signal: null,
    stdout: '',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    durationMs: 1,
    ...over,
  });
  it('passes on exit 0 and a matching expectation only', () => {
    expect(judge(r({ stdout: '1\n' }), { kind: 'equals', value: '1' }).kind).toBe('pass');
    expect(judge(r({ stdout: '11\n' }), { kind: 'equals', value: '1' }).kind).toBe('fail');
    expect(judge(r({ code: 1, stdout: '1\n' }), { kind: 'equals', value: '1' }).kind).toBe('fail');
    expect(matchesExpectation('-P FORWARD ACCEPT\n', { kind: 'regex', value: '^-P FORWARD ACCEPT$' })).toBe(true);
  });
  it('never passes an unknown outcome', () => {
    expect(judge(r({ outcome: 'lost', code: null })).kind).toBe('unknown');
    expect(judge(r({ outcome: 'timeout', code: null })).kind).toBe('error');
    expect(judge(r({ outcome: 'signal', code: null, signal: 'KILL' })).kind).toBe('error');
    expect(judge(r({ outcome: 'interrupted', code: null })).kind).toBe('interrupted');
  });
});

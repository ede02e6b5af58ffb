import { describe, expect, it } from 'vitest';
import { approvalMessage } from '../../src/report/live.js';

const req = {
  host: 'd',
  step: 'ip_forward is on',
  stepIndex: 0,
  reason: 'check failed: output did not match "1": 0',
  checkTail: 'line 19\n0',
  checkOutput: Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n') + '\n0',
  commands: ['sysctl -w net.ipv4.ip_forward=1', "printf 'a\\n' > /x"],
};

const HEAD = ['Fix "ip_forward is on" on d?', '  check failed: output did not match "1": 0'];
const CHECK_AND_COMMANDS = ['  last lines of the check output:', '    │ line 19', '    │ 0', '  will run:', '    $ sysctl -w net.ipv4.ip_forward=1', "    $ printf 'a\\n' > /x"];

describe('approval prompt text', () => {
  it('shows host, step, why, the last output lines and the exact commands', () => {
    expect(approvalMessage(req, false)).toBe([...HEAD, ...CHECK_AND_COMMANDS].join('\n'));
  });

  it('"show full output" shows all of it', () => {
    const text = approvalMessage(req, true);
    expect(text).toContain('full check output:');
    expect(text).toContain('    │ line 0\n');
  });

  it('apply --plan: a drifted fix shows what drifted and the check output when planned, above the current one', () => {
    const text = approvalMessage({ ...req, drift: { reason: "drifted since plan 8c19c1599764: the check's output changed; drift: output", plannedOutput: 'line 19\n1' } }, false);
    const drift = ["  drifted since plan 8c19c1599764: the check's output changed; drift: output", '  the check output when planned (last lines):', '    │ line 19', '    │ 1'];
    expect(text).toBe([...HEAD, ...drift, ...CHECK_AND_COMMANDS].join('\n'));
  });

  it('a preview shows what the file would become, between the check output and the commands', () => {
    const text = approvalMessage({ ...req, preview: '@@ -1 +1 @@\n-net.ipv4.ip_forward = 0\n+net.ipv4.ip_forward = 1' }, false);
    expect(text).toBe([...HEAD, ...CHECK_AND_COMMANDS.slice(0, 3), '  would change:', '    @@ -1 +1 @@', '    -net.ipv4.ip_forward = 0', '    +net.ipv4.ip_forward = 1', ...CHECK_AND_COMMANDS.slice(3)].join('\n'));
  });
});

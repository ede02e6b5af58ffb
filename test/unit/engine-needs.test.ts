/** A step's `needs`: a host without a program the step runs gets "needs X on H", and its check and fix never run. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkRunbookText } from '../../src/model/index.js';
import { autoApprove, buildPlan, EventBus, parallelStrategy, RunControl, runPlan, type CommandRenderer, type RunEvent } from '../../src/engine/index.js';
import { createTransport } from '../../src/transport/index.js';
import { bindings, host } from './engine-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-needs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const render: CommandRenderer = (_h, _s, t) => ({ command: t.text, display: t.text });

async function run(yaml: string, mode: 'apply' | 'dry-run' = 'apply') {
  const { runbook, problems } = checkRunbookText(yaml, join(dir, 'rb.yaml'));
  expect(problems).toEqual([]);
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.on((e) => events.push(e));
  const plan = buildPlan(runbook!, [host('h1')], bindings(render), { mode });
  const transport = createTransport();
  await runPlan(plan, {
    operator: 'tester', bindings: bindings(render), gate: autoApprove('tester'), bus, control: new RunControl(), strategy: parallelStrategy(),
    connect: (h) => transport.connect({ name: h.name, address: h.name, port: 0, user: '', connection: 'local' }),
  });
  return events;
}

describe('needs', () => {
  it('a missing program fails the step naming it and the host; neither check nor fix runs', async () => {
    const marker = join(dir, 'fixed');
    const events = await run(`name: rb
needs: sh
steps:
  - name: s
    needs: [no-such-tool-rb, sh]
    check: "false"
    fix: touch ${marker}
`);
    const result = events.find((e) => e.type === 'step-result');
    expect(result).toMatchObject({
      status: 'failed',
      reason: 'needs no-such-tool-rb on h1: install it there (or put it on the PATH its commands get); the check did not run',
    });
    // One command: the check, which looked its needs up first and stopped (127, the shell's "not found").
    expect(events.filter((e) => e.type === 'command').map((e) => {
      const c = e as Extract<RunEvent, { type: 'command' }>;
      return [c.command, c.exitCode, c.output.tail];
    })).toEqual([['false', 127, expect.stringMatching(/^runbook-needs-missing-[0-9a-f]{12}: no-such-tool-rb$/)]]);
    expect(() => writeFileSync(marker, '', { flag: 'wx' })).not.toThrow();
  });

  it('a check that exits 127 itself (a program not declared in needs) is the check failing, not a missing need', async () => {
    const events = await run(`name: rb
steps:
  - name: s
    needs: sh
    check: "echo runbook-needs-missing-000000000000: sh; exit 127"
`, 'dry-run');
    expect(events.find((e) => e.type === 'step-result')).toMatchObject({ status: 'failed', reason: 'check failed: exit code 127: runbook-needs-missing-000000000000: sh' });
  });

  it('every program present: the step runs as usual', async () => {
    const events = await run(`name: rb
steps:
  - name: s
    needs: sh
    check: echo hi
`, 'dry-run');
    expect(events.find((e) => e.type === 'step-result')).toMatchObject({ status: 'ok' });
  });

  it('a program name that is not a plain word is a located load error', () => {
    const { problems } = checkRunbookText('steps:\n  - name: s\n    needs: "jq; rm -rf /"\n    check: "true"\n', join(dir, 'rb.yaml'));
    expect(problems.map((p) => `${p.pos?.line}:${p.pos?.col} ${p.message}`)).toEqual(['3:12 steps[0].needs: expected a program name such as "jq", or a list of them']);
  });
});

/**
 * A compromised host sends values built to break the controller: JSON nested 200,000 deep, read by
 * another host in `{{ }}` and `when:`. That host's step fails with a reason; the run goes on to its
 * end, every other host's commands recorded. An error rendering or evaluating for one host fails
 * that host's step, never the run.
 */
import { describe, expect, it } from 'vitest';
import type { Connection, ExecResult } from '../../src/transport/types.js';
import type { Host, Inventory } from '../../src/model/types.js';
import { buildTemplateContext } from '../../src/model/index.js';
import { EventBus, RunControl, autoApprove, buildPlan, runPlan, templateBindings, type FleetBindings, type RunEvent } from '../../src/engine/index.js';
import { host, runbook, step } from './engine-fixtures.js';

const DEEP = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;

/** `print` prints the deep JSON; `echo X` prints X. */
function fake(name: string, log: string[]): Connection {
  return {
    host: name,
    async exec(command: string): Promise<ExecResult> {
      log.push(`${name}: ${command.slice(0, 60)}`);
      const stdout = command === 'print' ? `${DEEP}\n` : `${command.replace(/^echo /, '')}\n`;
      return { outcome: 'exit', code: 0, signal: null, stdout, stderr: '', stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };
    },
    async close() {},
  };
}

async function run(rb: ReturnType<typeof runbook>, wrap?: (b: FleetBindings) => FleetBindings) {
  const hosts: Host[] = [host('a'), host('b')];
  const inv: Inventory = { file: 'inv.yaml', hosts, groups: new Map() };
  const bindings = templateBindings((h) => buildTemplateContext({ runbook: rb, inventory: inv, host: h }), { runbook: rb, inventory: inv, cliVars: {} });
  const b = wrap ? wrap(bindings) : bindings;
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.on((e) => events.push(e));
  const log: string[] = [];
  const result = await runPlan(buildPlan(rb, hosts, b, { mode: 'apply' }), {
    operator: 'op', bus, control: new RunControl(), gate: autoApprove('op'), bindings: b, connect: async (h) => fake(h.name, log),
  });
  const res = (h: string, s: string) => events.find((e) => e.type === 'step-result' && e.host === h && e.step === s) as Extract<RunEvent, { type: 'step-result' }> | undefined;
  return { result, events, log, res };
}

describe('hostile registered values', () => {
  it('JSON nested 200,000 deep: the registering step fails with a reason, the reader\'s step fails, the run ends normally', async () => {
    const rb = runbook([
      step('facts', 'print', [], { on: 'a', register: 'facts', json: true }),
      step('use', 'echo {{ hosts.a.facts }}', [], { on: 'b' }),
      step('decide', 'echo ok', [], { on: 'b', when: 'len(hosts.a.facts) > 0' }),
    ]);
    const { result, events, res } = await run(rb);
    expect(res('a', 'facts')).toMatchObject({ status: 'failed', reason: 'register facts: JSON nested deeper than 64 levels (a host\'s output; refused)' });
    expect(res('b', 'use')?.status).toBe('failed');
    expect(events.at(-1)?.type).toBe('run-end');
    expect(result.verdict).toBe('failed');
  });

  it('an error while rendering a deferred step for one host fails that host\'s step, never the run', async () => {
    const rb = runbook([step('n', 'echo 3', [], { register: 'n' }), step('use', 'echo {{ n }}')]);
    const boom: (b: FleetBindings) => FleetBindings = (b) => ({
      ...b,
      render: (h, s, t, values) => {
        if (h.name === 'b' && values && values !== 'references') throw new RangeError('Maximum call stack size exceeded');
        return b.render(h, s, t, values);
      },
    });
    const { result, res, log } = await run(rb, boom);
    expect(res('b', 'use')).toMatchObject({ status: 'failed', reason: 'cannot render this step for b: Maximum call stack size exceeded' });
    expect(res('a', 'use')?.status).toBe('ok');
    expect(log).toContain('a: echo 3');
    expect(result.verdict).toBe('failed');
  });
});

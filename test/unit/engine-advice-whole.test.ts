/**
 * What the operator must act on is never cut: a host-key refusal with the line to add to
 * known_hosts (an RSA key makes it 700+ characters), and a runbook's own refusal that the host
 * prints as its last line. Only a flood is bounded.
 */
import { describe, expect, it } from 'vitest';
import type { Connection, ExecResult } from '../../src/transport/types.js';
import { EventBus, RunControl, autoApprove, buildPlan, runPlan, type RunEvent } from '../../src/engine/index.js';
import { bindings, host, runbook, step } from './engine-fixtures.js';
import { createRecapCollector, renderRecap } from '../../src/report/recap.js';

const KEY_LINE = `198.18.0.14 ssh-rsa ${'A'.repeat(716)}`;
const REFUSAL = `refusing: the lease of d is also claimed by 198.18.0.99, which did not report; nothing was changed ${'(details) '.repeat(40)}(run again on every node when all are reachable)`;

async function run(connect: (name: string) => Promise<Connection>) {
  const rb = runbook([step('lease', 'check-lease', [])]);
  const render = (_h: unknown, _s: unknown, t: { text: string }) => ({ command: t.text, display: t.text });
  const events: RunEvent[] = [];
  const bus = new EventBus();
  const recap = createRecapCollector();
  bus.on((e) => events.push(e));
  bus.on(recap.listener);
  await runPlan(buildPlan(rb, [host('c'), host('d')], bindings(render), { mode: 'apply' }), {
    operator: 'op', bus, control: new RunControl(), gate: autoApprove('op'), bindings: bindings(render), connect: (h) => connect(h.name),
  });
  return { events, recap: renderRecap(recap.state) };
}

describe('advice is shown whole', () => {
  it('a connect refusal with the known_hosts line to add, and a host-printed refusal, reach the events and the recap uncut', async () => {
    const { events, recap } = await run(async (name) => {
      if (name === 'd') throw Object.assign(new Error(`d: unknown host key; trust it with: echo '${KEY_LINE}' >> ~/.ssh/known_hosts`), {});
      return {
        host: name,
        async exec(): Promise<ExecResult> {
          return { outcome: 'exit', code: 1, signal: null, stdout: '', stderr: `${REFUSAL}\n`, stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };
        },
        async close() {},
      };
    });
    const connect = events.find((e) => e.type === 'host-connect' && e.host === 'd');
    expect(connect?.type === 'host-connect' && connect.error).toContain(`echo '${KEY_LINE}' >> ~/.ssh/known_hosts`);
    const c = events.find((e) => e.type === 'step-result' && e.host === 'c');
    expect(c?.type === 'step-result' && c.reason).toContain(REFUSAL);
    expect(recap).toContain(`echo '${KEY_LINE}' >> ~/.ssh/known_hosts`);
    expect(recap).toContain('(run again on every node when all are reachable)');
  });
});

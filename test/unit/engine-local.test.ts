/**
 * `local: true`: a step whose commands run on the controller, once per target host with that
 * host's vars, through the run's connect given the host as `connection: local`. The host's own
 * connection carries its other steps; the events and the plan's digest say which ran where.
 */
import { describe, expect, it } from 'vitest';
import type { Host, Runbook } from '../../src/model/types.js';
import type { Connection, ExecOptions, ExecResult } from '../../src/transport/types.js';
import { EventBus, autoApprove, buildPlan, hostIdentity, runPlan, type CommandRenderer, type RunEvent } from '../../src/engine/index.js';
import { bindings, host, runbook, step } from './engine-fixtures.js';

/** Targets reached over ssh, so that a connection for `connection: local` can only be the controller's. */
const target = (name: string): Host => ({ ...host(name), connection: 'ssh', become: true });
/** `{{ me }}` is the host's own var (engine-fixtures' host()). */
const render: CommandRenderer = (h, _s, t) => {
  const text = t.text.replace('{{ me }}', String(h.vars.me));
  return { command: text, display: text };
};

interface Opened {
  where: string;
  become: boolean | undefined;
  closed: boolean;
}

async function run(rb: Runbook, opts: { mode?: 'dry-run' | 'apply'; become?: boolean; missing?: string[] } = {}) {
  const ran: string[] = [];
  const opened: Opened[] = [];
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.on((e) => events.push(e));
  // `kubectl cordon X` marks X, which `kubectl get node X` then finds (else it exits 1).
  const cordoned = new Set<string>();
  const exec = (where: string) => async (command: string, o?: ExecOptions): Promise<ExecResult> => {
    ran.push(`${where}${o?.become ? ' (sudo)' : ''}: ${command}`);
    // A check with `needs` first looks them up in its own shell, and exits 127 naming what is missing.
    if (command.startsWith('{ command -v ') && opts.missing?.length) {
      return { outcome: 'exit', code: 127, signal: null, stdout: opts.missing.map((m) => `${/echo "(\S+) \$t"/.exec(command)![1]} ${m}\n`).join(''), stderr: '', stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };
    }
    const cmd = command.replace(/^\{ command -v .*?exit 127; \}; /, '');
    if (cmd.startsWith('kubectl cordon ')) cordoned.add(cmd.split(' ')[2]!);
    const code = cmd.startsWith('kubectl get node ') && !cordoned.has(cmd.split(' ')[3]!) ? 1 : 0;
    return { outcome: 'exit', code, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };
  };
  const plan = buildPlan(rb, [target('a'), target('b')], bindings(render), { mode: opts.mode ?? 'apply', ...(opts.become ? { become: true } : {}) });
  const result = await runPlan(plan, {
    operator: 'tester',
    bindings: bindings(render),
    gate: autoApprove('tester'),
    bus,
    connect: async (h): Promise<Connection> => {
      const o: Opened = { where: h.connection === 'local' ? `controller for ${h.name}` : h.name, become: h.become, closed: false };
      opened.push(o);
      return { host: h.name, exec: exec(o.where), close: async () => void (o.closed = true) };
    },
  });
  return { result, ran, opened, events, plan };
}

describe('local steps', () => {
  const rb = runbook(
    [
      step('on the node', 'check-node {{ me }}'),
      step('from the controller', 'kubectl get node {{ me }}', ['kubectl cordon {{ me }}'], { local: true }),
      step('on the node again', 'check-node-again {{ me }}'),
    ],
    { become: true },
  );

  it('runs on the controller once per target host, with its vars, never through sudo; the host steps on the host', async () => {
    const r = await run(rb, { become: true });
    expect(r.result.verdict).toBe('ok');
    const a = r.ran.filter((l) => l.includes(' a') || l.startsWith('a'));
    expect(a).toEqual([
      'a (sudo): check-node a',
      'controller for a: kubectl get node a',
      'controller for a: kubectl cordon a',
      'controller for a: kubectl get node a',
      'a (sudo): check-node-again a',
    ]);
    // The controller's connection is the step's own: opened for it, without the host's become, and closed after it.
    expect(r.opened.filter((o) => o.where.startsWith('controller')).map((o) => `${o.where} ${o.become} ${o.closed}`).sort()).toEqual([
      'controller for a undefined true',
      'controller for b undefined true',
    ]);
  });

  it('says so in the events: every command of the step and its result carry local, for the host they ran for', async () => {
    const r = await run(rb);
    const mine = (e: RunEvent) => 'host' in e && e.host === 'a' && 'step' in e;
    const lines = r.events.filter(mine).flatMap((e) =>
      e.type === 'command-start' || e.type === 'command' || e.type === 'step-result' ? [`${e.type} ${e.step} ${'local' in e ? 'local' : 'host'}`] : [],
    );
    expect(lines).toEqual([
      'command-start on the node host',
      'command on the node host',
      'step-result on the node host',
      'command-start from the controller local',
      'command from the controller local',
      'command-start from the controller local',
      'command from the controller local',
      'command-start from the controller local',
      'command from the controller local',
      'step-result from the controller local',
      'command-start on the node again host',
      'command on the node again host',
      'step-result on the node again host',
    ]);
  });

  it('a dry run shows the local fix as would-fix, and runs only its check, on the controller', async () => {
    const r = await run(rb, { mode: 'dry-run' });
    expect(r.events.find((e) => e.type === 'step-result' && e.host === 'b' && e.step === 'from the controller')).toMatchObject({ status: 'would-fix', local: true, fixCommands: ['kubectl cordon b'] });
    expect(r.ran.filter((l) => l.startsWith('controller for b'))).toEqual(['controller for b: kubectl get node b']);
  });

  it('looks up its needs on the controller, and says so', async () => {
    const r = await run(runbook([step('from the controller', 'kubectl get node {{ me }}', [], { local: true, needs: ['kubectl'] })]), { missing: ['kubectl'] });
    expect(r.ran).toContainEqual(expect.stringMatching(
      /^controller for a: \{ command -v kubectl; \} >\/dev\/null 2>&1 \|\| \{ for t in kubectl; do command -v "\$t" >\/dev\/null 2>&1 \|\| echo "runbook-needs-missing-[0-9a-f]{12}: \$t"; done; exit 127; \}; kubectl get node a$/,
    ));
    expect(r.events.find((e) => e.type === 'step-result' && e.host === 'a')).toMatchObject({
      status: 'failed',
      reason: "needs kubectl on this machine (a local step, run here for a): install it here (or put it on runbook's PATH); the check did not run",
    });
  });

  it('is part of what a saved plan binds: the same commands run locally are another plan', async () => {
    const local = await run(runbook([step('s', 'kubectl get node {{ me }}', [], { local: true })]), { mode: 'dry-run' });
    const remote = await run(runbook([step('s', 'kubectl get node {{ me }}')]), { mode: 'dry-run' });
    const digest = (p: typeof local.plan) => hostIdentity(p.hosts[0]!, p, bindings(render), (s) => s);
    expect(digest(local.plan)).not.toBe(digest(remote.plan));
  });
});

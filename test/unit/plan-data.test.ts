/**
 * The plan is plain, versioned data: the engine's Plan type and the plan schema are the same
 * shape (checked by the type checker), and a plan of every shipped runbook survives a JSON round
 * trip unchanged and parses against the schema. Values registered at run time stay references.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import { buildTemplateContext, loadInventory, loadRunbookFile, type Host, type TemplateContext } from '../../src/model/index.js';
import { PlanSchema } from '../../src/model/plan-schema.js';
import { buildPlan, PLAN_VERSION, templateBindings, type Plan } from '../../src/engine/index.js';

const root = resolve('.');
const inventory = loadInventory({ paths: [join(root, 'inventory/default.yaml')], source: '-i' });
const shipped = readdirSync(join(root, 'runbooks')).filter((f) => f.endsWith('.yaml'));

function planOf(file: string): Plan {
  const runbook = loadRunbookFile(join(root, 'runbooks', file));
  // Every var a shipped runbook reads from an inventory, so that every command renders.
  const cliVars = { apiserver_port: '6443', apiserver_vip: '198.18.0.100', haproxy_admin_socket: '/run/haproxy.sock', etcd_endpoints: 'http://198.18.0.10:2379' };
  const contextFor = (h: Host): TemplateContext => buildTemplateContext({ runbook, inventory, host: h, cliVars });
  const bindings = templateBindings(contextFor, { runbook, inventory, cliVars });
  // The hosts as a kubernetes: inventory gives them, so that a disruptive step's drain is planned too.
  const nodes = inventory.hosts.map((h) => ({ ...h, kubeNode: { name: h.name, kubeconfig: '/etc/kubernetes/admin.conf' } }));
  return buildPlan(runbook, nodes, bindings, { mode: 'dry-run', drain: { timeoutMs: 300_000 } });
}

describe('the plan is data', () => {
  it('the Plan type and the plan schema have the same shape', () => {
    expectTypeOf<z.infer<typeof PlanSchema>>().toEqualTypeOf<Plan>();
  });

  it.each(shipped)('%s: its plan is version 1, survives JSON unchanged and parses against the schema', (file) => {
    const plan = planOf(file);
    expect(plan.planVersion).toBe(PLAN_VERSION);
    const copy = JSON.parse(JSON.stringify(plan)) as unknown;
    expect(copy).toStrictEqual(plan);
    expect(PlanSchema.parse(copy)).toStrictEqual(plan);
  });

  it('a step reading registered values keeps them as {{ }} references; an on: step is rendered only where it runs', () => {
    const plan = planOf('fix-stale-flannel-lease.yaml');
    const d = plan.hosts.find((h) => h.host.name === 'd')!;
    const deferred = d.steps.filter((s) => s.deferred);
    expect(deferred.length).toBeGreaterThan(0);
    expect(deferred.some((s) => [s.check, ...s.fix].some((c) => /\{\{ *leases(\.[a-z_.]+)? *(\| *json *)?\}\}/.test(c.display)))).toBe(true);
    const onEtcd = plan.steps.findIndex((s) => s.on === 'etcd');
    expect(d.steps[onEtcd]).toMatchObject({ elsewhere: true, check: { command: '', display: '' } });
    const m1 = plan.hosts.find((h) => h.host.name === 'm1')!;
    expect(m1.steps[onEtcd]!.elsewhere).toBeUndefined();
    expect(m1.steps[onEtcd]!.check.command).toContain('http://198.18.0.10:2379');
  });
});

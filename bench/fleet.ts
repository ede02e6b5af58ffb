/**
 * The bench's fleet: one lab ("bench") brought up once per run and shared by every tool and round,
 * the workloads' commands rendered through runbook's own model, and the fault the apply workload
 * needs (ip_forward off at runtime and persisted on every host), injected and checked out of band.
 */
import { join } from 'node:path';
import { FAULTS, labBreak, labDown, labExec, labState, labUp, type LabInfo } from '../src/lab/index.js';
import { buildTemplateContext, loadInventory, loadRunbook, renderCommand, selectHosts } from '../src/model/index.js';
import type { SpecHost, SpecStep } from './spec.js';

export const LAB = 'bench';
export const FAULT = 'ip-forward-off';

export interface Fleet {
  info: LabInfo;
  inventory: string;
  identityFile: string;
  knownHostsFile: string;
  /** Workers in inventory order (a..z, w27, ...). */
  workers: SpecHost[];
}

export async function fleetUp(workers: number, say: (m: string) => void): Promise<Fleet> {
  if (!FAULTS.some((f) => f.name === FAULT)) throw new Error(`the lab has no ${FAULT} fault`);
  const info = await labUp({ name: LAB, workers, onProgress: (m) => say(`lab: ${m}`) });
  return {
    info,
    inventory: info.inventory,
    identityFile: join(info.stateDir, 'id_ed25519'),
    knownHostsFile: join(info.stateDir, 'known_hosts'),
    workers: info.nodes.filter((n) => n.roles.includes('worker')).map((n) => ({ name: n.name, address: n.address })),
  };
}

/** For development (--reuse-lab): the running bench lab, if it has enough workers. */
export function fleetReuse(workers: number): Fleet | undefined {
  let state;
  try {
    state = labState(LAB);
  } catch {
    return undefined;
  }
  if (state.workers < workers) return undefined;
  const info: LabInfo = {
    name: LAB, profiles: state.profiles, inventory: join(state.stateDir, 'inventory.yaml'), stateDir: state.stateDir, lan: state.lan,
    nodes: state.topology.nodes.map((n) => ({ name: n.name, address: n.ip, roles: n.roles })), seconds: 0,
  };
  return {
    info,
    inventory: info.inventory,
    identityFile: join(info.stateDir, 'id_ed25519'),
    knownHostsFile: join(info.stateDir, 'known_hosts'),
    workers: info.nodes.filter((n) => n.roles.includes('worker')).map((n) => ({ name: n.name, address: n.address })).slice(0, workers),
  };
}

export async function fleetDown(): Promise<void> {
  await labDown(LAB);
}

/** The steps of a runbook as runbook would send them to these hosts; they must be the same on all. */
export function renderSteps(runbookRef: string, inventoryFile: string, hosts: SpecHost[]): SpecStep[] {
  const runbook = loadRunbook(runbookRef);
  const inventory = loadInventory(inventoryFile);
  let first: SpecStep[] | undefined;
  for (const h of hosts) {
    const [host] = selectHosts(inventory, h.name);
    if (!host) throw new Error(`${h.name} is not in ${inventoryFile}`);
    const ctx = buildTemplateContext({ runbook, inventory, host, cliVars: {} });
    const r = (t: Parameters<typeof renderCommand>[0], step: string): string => renderCommand(t, ctx, { step }).command;
    const steps: SpecStep[] = runbook.steps.map((s) => ({
      name: s.name,
      check: r(s.check, s.name),
      ...(s.expect ? { expect: s.expect } : {}),
      fix: s.fix.map((f) => r(f, s.name)),
      verify: s.verify ? r(s.verify, s.name) : r(s.check, s.name),
      ...(!s.verify && s.expect ? { verifyExpect: s.expect } : {}),
    }));
    if (first && JSON.stringify(first) !== JSON.stringify(steps)) {
      throw new Error(`${runbookRef} renders differently for ${h.name}; the other tools send one command to every host`);
    }
    first ??= steps;
  }
  return first ?? [];
}

async function eachHost<T>(hosts: SpecHost[], fn: (h: SpecHost) => Promise<T>, limit = 16): Promise<T[]> {
  const out: T[] = new Array<T>(hosts.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, hosts.length) }, async () => {
      while (next < hosts.length) {
        const i = next++;
        out[i] = await fn(hosts[i] as SpecHost);
      }
    }),
  );
  return out;
}

export async function breakForwarding(hosts: SpecHost[]): Promise<void> {
  await eachHost(hosts, (h) => labBreak(LAB, FAULT, h.name));
}

const HEALTHY = `test "$(sysctl -n net.ipv4.ip_forward)" = 1 && grep -Eq '^[[:space:]]*net\\.ipv4\\.ip_forward[[:space:]]*=[[:space:]]*1[[:space:]]*$' /etc/sysctl.d/99-sysctl.conf && iptables -S FORWARD | head -n 1 | grep -qx -- '-P FORWARD ACCEPT'`;
const HEAL = `sysctl -q -w net.ipv4.ip_forward=1 && sed -i --follow-symlinks -E 's/^[[:space:]]*net\\.ipv4\\.ip_forward[[:space:]]*=.*/net.ipv4.ip_forward = 1/' /etc/sysctl.d/99-sysctl.conf && iptables -P FORWARD ACCEPT`;

/** Checked without SSH (nsenter): the hosts whose forwarding is not fully on. */
export async function unhealthy(hosts: SpecHost[]): Promise<string[]> {
  const codes = await eachHost(hosts, async (h) => (await labExec(LAB, h.name, HEALTHY)).code);
  return hosts.filter((_, i) => codes[i] !== 0).map((h) => h.name);
}

export async function heal(names: string[]): Promise<void> {
  await eachHost(names.map((name) => ({ name, address: '' })), async (h) => {
    const r = await labExec(LAB, h.name, HEAL);
    if (r.code !== 0) throw new Error(`cannot restore forwarding on ${h.name}: ${r.stderr.trim()}`);
  });
}

/**
 * The lab's programmatic API, for tests and the benchmark:
 *   labUp(opts) → LabInfo            build (replacing a lab of the same name)
 *   labDown(name)                    remove everything; idempotent
 *   labBreak(name, fault, node?)     inject a fault (FAULTS lists them; appliesTo(f, stack) says where)
 *   labHeal(name)                    undo every fault with the documented fixes
 *   labProbe(name) → ProbeResult     the pod-to-pod matrix (ok: every pair works)
 *   labExec(name, node, cmd)         run a shell command as root on a node (no SSH)
 *   labStatus(name), labState(name)  services and leases; addresses and paths
 */
import { nodeExec } from './node-process.js';
import type { RunOptions, RunResult } from './proc.js';
import { requireState, type LabState } from './state.js';

export { labUp, type LabUpOptions, type LabInfo } from './up.js';
export { labDown, labNamespaces, labPids, isLive } from './down.js';
export { labBreak, labHeal, FAULTS } from './faults.js';
export { appliesTo, type FaultDef } from './fault-def.js';
export { STACKS, type Stack } from './topology.js';
export { listLeases, subnetKey, type Lease } from './leases.js';
export { PROFILES, resolveProfiles, type Flavour } from './profiles.js';
export { labProbe, formatProbe, type ProbeResult, type ProbePair, type PodInfo, type ProbeOptions } from './probe.js';
export { labStatus, formatStatus, type LabStatus } from './status.js';
export { DEFAULT_LAB, defaultStateDir, nodeNs, uplinkName, runtimeDir } from './paths.js';
export type { LabState } from './state.js';
export type { RunResult } from './proc.js';

export function labState(name: string): LabState {
  return requireState(name);
}

export function labExec(name: string, node: string, command: string, opts: RunOptions = {}): Promise<RunResult> {
  return nodeExec(requireState(name), node, command, opts);
}

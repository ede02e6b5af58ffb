/** What a lab fault is (faults.ts and faults-k8s.ts define them) and which stack it can occur on. */
import type { Flavour } from './profiles.js';
import type { LabState } from './state.js';
import type { Role, Stack } from './topology.js';

export interface FaultDef {
  name: string;
  /** The role the target node must have. */
  role: Role;
  ha: boolean;
  defaultNode: string;
  description: string;
  signature: string;
  /** Why it cannot occur on a lab of this flavour, if it cannot. */
  impossible?: (f: Flavour) => string | undefined;
  /** A healthy-but-unusual state: every runbook must leave it alone (nothing to fix). */
  healthy?: boolean;
  /** The only stack the fault can occur on; unset: both. */
  stack?: Stack;
  /** With `stack`: why the fault does not occur on the other stack (`lab break` says so). */
  notOn?: string;
}

/** The stack a lab runs (states written before --stack existed are docker). */
export const stackOf = (state: LabState): Stack => state.stack ?? 'docker';
export const appliesTo = (f: FaultDef, stack: Stack): boolean => f.stack === undefined || f.stack === stack;

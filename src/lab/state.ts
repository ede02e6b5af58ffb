/** What a running lab remembers about itself: /run/rb-lab/<lab>/lab.json. */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../model/errors.js';
import { runtimeDir } from './paths.js';
import type { Flavour } from './profiles.js';
import type { Stack, Topology } from './topology.js';

export interface LabState {
  name: string;
  /** Where inventory.yaml, the SSH key and known_hosts are. */
  stateDir: string;
  lan: string;
  internalLan?: string;
  workers: number;
  ha: boolean;
  bastion: boolean;
  pods: number;
  /** The profiles it was built with (`lab up --profile`), and what they resolve to. */
  profiles: string[];
  flavour: Flavour;
  /** What the fleet runs; absent in states written before stacks (the docker stack). */
  stack?: Stack;
  topology: Topology;
  /** Host PID of each node's namespace holder (`unshare`); its child is the node's PID 1. */
  holders: Record<string, number>;
  createdAt: string;
}

const stateFile = (lab: string): string => join(runtimeDir(lab), 'lab.json');

export function writeState(state: LabState): void {
  mkdirSync(runtimeDir(state.name), { recursive: true });
  writeFileSync(stateFile(state.name), `${JSON.stringify(state, null, 2)}\n`);
}

export function readState(lab: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(lab), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function requireState(lab: string): LabState {
  const s = readState(lab);
  if (!s) {
    throw new UserError({
      message: `lab "${lab}" is not running`,
      hint: `start it with: runbook lab up${lab === 'lab' ? '' : ` --name ${lab}`}`,
    });
  }
  return s;
}

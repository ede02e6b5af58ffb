/**
 * Names and places of a lab. Everything machine-wide a lab creates is named from the lab name, so
 * differently named labs never touch each other:
 *   network namespaces  rb-<lab>-<node>, rb-<lab>-sw (the LAN switch)
 *   root-namespace link rb-<lab> (the controller's port on the LAN)
 *   runtime files       /run/rb-lab/<lab>/ (node filesystems, logs, pids)
 *   state dir           ./.lab for the lab named "lab", ./.lab-<lab> otherwise (inventory, key)
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../model/errors.js';

export const DEFAULT_LAB = 'lab';
/** Short enough that rb-<lab> and rb-<lab>-p fit a 15-character link name. */
const LAB_NAME = /^[a-z][a-z0-9]{0,9}$/;

export function checkLabName(name: string): string {
  if (!LAB_NAME.test(name)) {
    throw new UserError({
      message: `invalid lab name "${name}"`,
      hint: 'use 1-10 lowercase letters or digits, starting with a letter',
    });
  }
  return name;
}

export const RUN_ROOT = '/run/rb-lab';
export const runtimeDir = (lab: string): string => join(RUN_ROOT, lab);
export const nodeDir = (lab: string, node: string): string => join(runtimeDir(lab), 'n', node);
export const binDir = (lab: string): string => join(runtimeDir(lab), 'bin');
export const defaultStateDir = (lab: string, cwd = process.cwd()): string =>
  join(cwd, lab === DEFAULT_LAB ? '.lab' : `.lab-${lab}`);

export const nsPrefix = (lab: string): string => `rb-${lab}-`;
export const nodeNs = (lab: string, node: string): string => `${nsPrefix(lab)}${node}`;
export const switchNs = (lab: string): string => `${nsPrefix(lab)}sw`;
export const uplinkName = (lab: string): string => `rb-${lab}`;

/** The node scripts (init, systemctl, flanneld, ...), shipped as files beside the sources. */
export const SCRIPTS_DIR = fileURLToPath(new URL('../../src/lab/sh/', import.meta.url));

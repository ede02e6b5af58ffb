/** Writes fuzz cases to disk where the loaders expect them. */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FuzzCase } from './generate.js';

export interface Job {
  id: number;
  kind: 'runbook' | 'inventory';
  file: string;
}

/** Writes a case where the loader expects it: a runbook under its own name, an Ansible part beside its hosts.ini. */
export function materialize(c: FuzzCase, into: string, root: string): Job {
  const caseDir = join(into, `case-${String(c.id).padStart(4, '0')}`);
  if (c.base.kind === 'ansible-part') {
    cpSync(join(root, 'inventory/ansible'), join(caseDir, 'ansible'), { recursive: true });
    writeFileSync(join(caseDir, c.base.path.replace(/^inventory\//, '')), c.bytes);
    return { id: c.id, kind: 'inventory', file: join(caseDir, 'ansible/hosts.ini') };
  }
  const file = join(caseDir, c.base.path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, c.bytes);
  return { id: c.id, kind: c.base.kind, file };
}


/** SSH keys of a lab: the operator's key (in the state dir) and one host key per node. */
import { readFile } from 'node:fs/promises';
import pLimit from 'p-limit';
import { runOk } from './proc.js';

export async function generateKey(file: string, comment: string): Promise<void> {
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

export async function generateKeys(jobs: { file: string; comment: string }[]): Promise<void> {
  await pLimit(8).map(jobs, (j) => generateKey(j.file, j.comment));
}

/** A known_hosts line for `address` (port 22, so no [address]:port form) from a .pub file. */
export async function knownHostsLine(address: string, pubFile: string): Promise<string> {
  const [type, blob] = (await readFile(pubFile, 'utf8')).trim().split(/\s+/);
  return `${address} ${type} ${blob}`;
}

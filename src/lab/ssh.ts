/** ssh arguments that reach a lab node the way an operator would: the lab's key and known_hosts, as the inventory's user. */
import { join } from 'node:path';
import { UserError } from '../model/errors.js';
import { IDENTITY, KNOWN_HOSTS, loginUser } from './inventory.js';
import { requireState } from './state.js';
import { sshAddress } from './topology.js';

export function labSshArgs(name: string, node: string): string[] {
  const state = requireState(name);
  const spec = state.topology.nodes.find((n) => n.name === node);
  if (!spec) throw new UserError({ message: `no node "${node}" in lab ${name}`, hint: `nodes: ${state.topology.nodes.map((n) => n.name).join(' ')}` });
  const common = ['-i', join(state.stateDir, IDENTITY), '-o', `UserKnownHostsFile=${join(state.stateDir, KNOWN_HOSTS)}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes'];
  const bastion = state.topology.nodes.find((n) => n.roles.includes('bastion'));
  const jump = bastion && spec !== bastion ? ['-o', `ProxyCommand=ssh ${common.join(' ')} -W %h:%p ${loginUser(state)}@${bastion.ip}`] : [];
  return [...common, ...jump, `${loginUser(state)}@${sshAddress(spec)}`];
}

/** Shared by the runbooks-flannel-docker*.test.ts files: the node's state read from outside runbook. */
import { onNode, type Applied } from './runbooks-support.js';

export const RB = 'fix-flannel-docker-order';
export const STEPS = ['flanneld is running and wrote subnet.env', "docker's options carry FLANNEL_SUBNET and FLANNEL_MTU", "docker runs with flannel's options", 'docker0 is on FLANNEL_SUBNET'] as const;

/**
 * The seed's symptom with docker0 off flannel's subnet: nothing reaches d's pods (d's own pods
 * still reach out, masqueraded by docker's --ip-masq).
 */
export const INTO_D = ['a→d', 'b→d', 'c→d'];

export const docker0 = (node = 'd'): Promise<string> => onNode(node, 'ip -4 -o addr show dev docker0 | awk "{print \\$4}"');
export const flannelSubnet = (node = 'd'): Promise<string> => onNode(node, '. /run/flannel/subnet.env; echo $FLANNEL_SUBNET');
/** docker's command line, space-separated, with a space at each end. */
export const dockerArgs = async (node = 'd'): Promise<string> => ` ${await onNode(node, 'tr "\\0" " " < /proc/$(systemctl show -p MainPID --value docker)/cmdline')} `;

/** node → unit → MainPID (0 when not running), for the units fix-flannel-docker-order may touch. */
export async function mainPids(nodes: string[]): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const n of nodes) {
    const units = ['flanneld', 'docker', 'docker.socket', 'kubelet'];
    const pids = (await onNode(n, `systemctl show -p MainPID --value ${units.join(' ')}`)).split('\n');
    out[n] = Object.fromEntries(units.map((u, i) => [u, pids[i] ?? '?']));
  }
  return out;
}

/** diagnose-pod-network's findings among the flanneld/docker steps this runbook owns: step → output. */
export function myDiagnoseSteps(a: Applied): Record<string, string> {
  const mine = STEPS.map((s) => `${s} [${RB}]`);
  const out: Record<string, string> = {};
  for (const e of a.events) if (e.type === 'step-result' && mine.includes(e.step) && e.status !== 'ok') out[e.step] = e.checkOutput ?? e.reason ?? '';
  return out;
}

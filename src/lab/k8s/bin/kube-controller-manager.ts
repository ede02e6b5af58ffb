/**
 * The lab's kube-controller-manager (its unit runs `node …/kube-controller-manager.js` on the
 * control-plane node): every second it reads nodes, pods, ReplicaSets and DaemonSets and carries
 * out what controllers.ts decides (pods created, unbound pods bound). It lists instead of
 * watching (the lab API serves no watches). Ready once its first pass has run.
 * Flags: --kube-api-url=
 */
import { writeFileSync } from 'node:fs';
import { KubeClient } from '../client.js';
import { reconcile, type Cluster } from '../controllers.js';
import type { JsonObject } from '../patch.js';
import { flags } from './flags.js';

const f = flags(process.argv.slice(2), ['kube-api-url']);
const api = new KubeClient(f['kube-api-url']);
const log = (s: string): void => void process.stdout.write(`${s}\n`);
const items = async (path: string): Promise<JsonObject[]> => (await api.get(path)).items as JsonObject[];

async function pass(): Promise<void> {
  const c: Cluster = {
    nodes: await items('/api/v1/nodes'),
    pods: await items('/api/v1/pods'),
    replicasets: await items('/apis/apps/v1/replicasets'),
    daemonsets: await items('/apis/apps/v1/daemonsets'),
  };
  for (const a of reconcile(c)) {
    if ('create' in a) {
      const made = await api.post(`/api/v1/namespaces/${a.create.namespace}/pods`, a.create.pod);
      const m = made.metadata as JsonObject;
      log(`created pod ${a.create.namespace}/${String(m.name)}${(made.spec as JsonObject).nodeName ? ` on ${String((made.spec as JsonObject).nodeName)}` : ''}`);
    } else {
      await api.post(`/api/v1/namespaces/${a.bind.namespace}/pods/${a.bind.name}/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: a.bind.name }, target: { apiVersion: 'v1', kind: 'Node', name: a.bind.node } });
      log(`bound pod ${a.bind.namespace}/${a.bind.name} to ${a.bind.node}`);
    }
  }
}

let ready = false;
for (;;) {
  try {
    await pass();
    if (!ready && process.env.NOTIFY_FILE) writeFileSync(process.env.NOTIFY_FILE, '');
    ready = true;
  } catch (err) {
    // The API restarting, or a race with another writer: the next pass sees the new state.
    log(`pass failed: ${(err as Error).message}`);
  }
  await new Promise((r) => setTimeout(r, 1000));
}

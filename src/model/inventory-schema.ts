/** The native inventory YAML format, strict. `runbook schema inventory` prints it as JSON Schema. */
import { z } from 'zod';
import { SecretDefSchema, VarsSchema } from './var-schema.js';
import { CONNECTION_HELP, CONNECTION_KINDS } from './types.js';
import { orList } from './suggest.js';
import { ADDRESS_TYPES } from './kube-nodes.js';

const Name = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'names are letters, digits, _, . and -');
const Port = z.int().min(1).max(65535);

const Connection = {
  user: z.string().min(1).optional().describe('SSH user'),
  port: Port.optional().describe('SSH port'),
  identity_file: z.string().min(1).optional().describe('Private key; relative to this file, ~ expands'),
  known_hosts: z.string().min(1).optional().describe('Extra known_hosts file, verified in addition to ~/.ssh/known_hosts'),
  connection: z.enum(CONNECTION_KINDS).optional().describe(orList(CONNECTION_KINDS.map((k) => `${k} (${CONNECTION_HELP[k]})`))),
  become: z.boolean().optional().describe('Run commands through sudo'),
  become_password: z.union([z.string(), SecretDefSchema]).optional().describe('sudo password; always treated as a secret'),
  proxy_jump: z.string().min(1).optional().describe('OpenSSH ProxyJump syntax; a name may be an inventory host'),
};

const Kubernetes = z
  .strictObject({
    kubeconfig: z.string().min(1).optional().describe("kubectl's kubeconfig; relative to this file, ~ expands; default: kubectl's ($KUBECONFIG, ~/.kube/config)"),
    context: z.string().min(1).optional().describe("A context of the kubeconfig; default: its current-context"),
    selector: z.string().min(1).optional().describe('Label selector, as kubectl -l takes it: only these nodes become hosts'),
    address: z.enum(ADDRESS_TYPES).optional().describe('Which of the node\'s status.addresses runbook connects to (default InternalIP)'),
    groups_from_labels: z
      .array(z.string().min(1))
      .optional()
      .describe('Label keys that make groups: a node labelled topology.kubernetes.io/zone=a joins zone_a (the name after the last /, _, the value)'),
  })
  .describe("Take the hosts from a cluster's nodes (kubectl get nodes): roles and groups_from_labels make groups, labels and annotations vars");

export type KubernetesYaml = z.infer<typeof Kubernetes>;

export const InventorySchema = z
  .strictObject({
    kubernetes: Kubernetes.optional(),
    defaults: z
      .strictObject({ ...Connection, vars: VarsSchema.optional().describe('Vars for every host (like group `all`)') })
      .optional()
      .describe('Settings for every host, overridden per host'),
    groups: z
      .record(
        Name,
        z
          .strictObject({
            hosts: z.array(Name).optional().describe('Member hosts'),
            children: z.array(Name).optional().describe('Member groups'),
            vars: VarsSchema.optional(),
          })
          .nullable(),
      )
      .optional(),
    hosts: z
      .record(
        Name,
        z
          .strictObject({
            address: z.string().min(1).optional().describe('IP or DNS name; defaults to the host name'),
            ...Connection,
            groups: z.array(Name).optional().describe('Groups this host belongs to (in addition to groups.X.hosts)'),
            vars: VarsSchema.optional(),
          })
          .nullable(),
      )
      .optional()
      .describe('Hosts; with kubernetes:, settings for the nodes of these names, and other hosts (a bastion) with their address'),
  })
  .describe('A runbook inventory: hosts, groups and their vars');

export type InventoryYaml = z.infer<typeof InventorySchema>;

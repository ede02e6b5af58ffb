/**
 * `runbook lab ...`: a real flannel-style fleet on this machine (docs/lab.md). The lab module is
 * imported inside each action so `runbook --help` stays fast.
 */
import { Option, type Command } from 'commander';
import { ExitCode } from '../../model/exit-codes.js';
import { textTable } from '../../report/text-table.js';
import { collect, wholeNumber } from '../options.js';

// --profile repeats: `--profile a,b --profile c` → ['a,b', 'c'] (split later, with the checks).

const nameOption = (): Option => new Option('--name <lab>', 'lab name (labs with different names run side by side)').env('RUNBOOK_LAB').default('lab');

export function register(program: Command): void {
  const lab = program.command('lab').description('A rehearsal fleet on this machine: namespaces, real sshd, etcd, flannel (needs root)');

  lab
    .command('up')
    .description('Start the fleet (replacing a lab of the same name) and write its inventory')
    .addOption(nameOption())
    .addOption(new Option('--workers <n>', 'number of workers').argParser(wholeNumber('--workers')).default(4))
    .option('--ha', 'three masters (etcd cluster, apiserver) behind keepalived + haproxy')
    .option('--bastion', 'workers on an internal LAN reachable only through a bastion (ProxyJump)')
    .option('--lan <cidr>', 'the LAN /24 (default: derived from the lab name, in 198.19.0.0/16)')
    .option('--state-dir <dir>', 'where to write inventory.yaml and the key (default: ./.lab or ./.lab-<name>)')
    .addOption(new Option('--pods <n>', 'pods per worker').argParser(wholeNumber('--pods')).default(1))
    .addOption(new Option('--profile <names>', 'real-world variants to combine, comma-separated (see `runbook lab profiles`)').argParser(collect).default([]))
    .addOption(new Option('--stack <stack>', 'docker: the seed\'s era (etcd leases, docker0); k8s: containerd pods on CNI, flannel\'s kube subnet manager, a Kubernetes API').choices(['docker', 'k8s']).default('docker'))
    .action(async (o: { name: string; workers: number; ha?: boolean; bastion?: boolean; lan?: string; stateDir?: string; pods: number; profile: string[]; stack: 'docker' | 'k8s' }) => {
      const { labUp } = await import('../../lab/index.js');
      const info = await labUp({ ...o, profiles: o.profile, onProgress: (m) => process.stderr.write(`lab ${o.name}: ${m}\n`) });
      process.stdout.write(
        `lab ${info.name} is up in ${info.seconds.toFixed(1)}s: ${info.nodes.length} nodes on ${info.lan}, profiles ${info.profiles.join(',') || 'default'}\n` +
          `inventory: ${info.inventory}\n` +
          (info.kubeconfig ? `kubeconfig: ${info.kubeconfig}\n` : '') +
          (info.kubeInventory ? `inventory from the cluster: ${info.kubeInventory}\n` : '') +
          `try: runbook lab probe${o.name === 'lab' ? '' : ` --name ${o.name}`}\n`,
      );
    });

  lab
    .command('profiles')
    .description('The real-world variants a lab can be built as (combine with `lab up --profile a,b`)')
    .option('--json', 'print a JSON array of {"name", "description"}')
    .action(async (o: { json?: boolean }) => {
      const { PROFILES } = await import('../../lab/profiles.js');
      const list = PROFILES.map((p) => ({ name: p.name, description: p.description }));
      process.stdout.write(`${o.json ? JSON.stringify(list) : textTable(list.map((p) => [p.name, p.description]))}\n`);
    });

  lab
    .command('down')
    .description('Remove the lab: namespaces, processes, links, state (idempotent)')
    .addOption(nameOption())
    .option('--state-dir <dir>', 'the state dir used at `up`, if not the default')
    .action(async (o: { name: string; stateDir?: string }) => {
      const { labDown } = await import('../../lab/index.js');
      const was = await labDown(o.name, o.stateDir ? { stateDir: o.stateDir } : {});
      process.stdout.write(was ? `lab ${o.name} is down\n` : `lab ${o.name} was not running: nothing to remove\n`);
    });

  lab
    .command('status')
    .description('The nodes, their services, and the subnet leases in etcd')
    .addOption(nameOption())
    .option('--json', 'print JSON')
    .action(async (o: { name: string; json?: boolean }) => {
      const { labStatus, formatStatus } = await import('../../lab/index.js');
      const s = await labStatus(o.name);
      process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStatus(s)}\n`);
    });

  lab
    .command('break')
    .description('Inject a fault from the incident (see --list)')
    .argument('[fault]', 'fault name')
    .option('--node <name>', "target node (default: the fault's usual victim, e.g. d)")
    .option('--list', 'list the faults')
    .addOption(nameOption())
    .action(async (fault: string | undefined, o: { name: string; node?: string; list?: boolean }) => {
      const { labBreak, FAULTS, appliesTo, STACKS } = await import('../../lab/index.js');
      if (o.list || !fault) {
        // Per stack, the faults that can occur on it (a fault of both stacks is listed under each).
        for (const stack of STACKS) {
          process.stdout.write(`--stack ${stack}:\n`);
          for (const f of FAULTS.filter((x) => appliesTo(x, stack))) {
            process.stdout.write(`  ${f.name.padEnd(22)}${f.ha ? '[--ha] ' : ''}${f.healthy ? '[not a fault: no runbook may flag it] ' : ''}${f.description} (default node ${f.defaultNode}; ${f.signature})\n`);
          }
        }
        if (!o.list) process.exitCode = ExitCode.USAGE;
        return;
      }
      const node = await labBreak(o.name, fault, o.node);
      process.stdout.write(`lab ${o.name}: ${fault} injected on ${node}\n`);
    });

  lab
    .command('probe')
    .description('Pod-to-pod reachability (ICMP and TCP 80); exits 0 only if every pair works')
    .addOption(nameOption())
    .option('--from <nodes>', 'probe only from these nodes (comma-separated) to every pod')
    .option('--json', 'print JSON')
    .action(async (o: { name: string; json?: boolean; from?: string }) => {
      const { labProbe, formatProbe } = await import('../../lab/index.js');
      const r = await labProbe(o.name, o.from ? { from: o.from.split(',').map((s) => s.trim()) } : {});
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${formatProbe(r)}\n`);
      process.exitCode = r.ok ? ExitCode.OK : ExitCode.FAILED;
    });

  lab
    .command('ssh')
    .description('Open a shell on a node (real ssh, the lab key, strict host-key checking)')
    .argument('<node>', 'node name')
    .argument('[command...]', 'run this instead of a shell (everything after the node goes to ssh as is, options too)')
    .addOption(nameOption())
    .action(async (node: string, command: string[], o: { name: string }) => {
      const { labSshArgs } = await import('../../lab/ssh.js');
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync('ssh', [...labSshArgs(o.name, node), ...command], { stdio: 'inherit' });
      process.exitCode = r.status ?? ExitCode.FAILED;
    });
}

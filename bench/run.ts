/**
 * `npm run bench [-- --workers N --rounds R]`: runbook against parallel-ssh, ansible-playbook and a
 * bare ssh2 fan-out on the same lab fleet (docs/bench.md). One lab per run, shared by every tool
 * and round; tools alternate round by round; results go to bench/results/. Never fails on timing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { breakForwarding, fleetDown, fleetReuse, fleetUp, heal, LAB, renderSteps, unhealthy, type Fleet } from './fleet.js';
import { machineCpuS, measure, summarize } from './measure.js';
import { renderMarkdown, type BenchResults, type Sample, type WorkloadId } from './report.js';
import { RUNBOOK_BIN, runTool, TOOL_MAX_HOSTS, TOOLS, type Job, type ToolName } from './tools.js';

const REPO = resolve(import.meta.dirname, '..');

const WORKLOADS: { id: WorkloadId; runbook: string; mode: Job['mode']; breakFirst: boolean }[] = [
  { id: 'check', runbook: 'fix-forwarding', mode: 'check', breakFirst: false },
  { id: 'apply', runbook: 'fix-forwarding', mode: 'apply', breakFirst: true },
  { id: 'one', runbook: join(REPO, 'bench/runbooks/one-command.yaml'), mode: 'check', breakFirst: false },
];

const { values: o } = parseArgs({
  options: {
    workers: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    sizes: { type: 'string' },
    tools: { type: 'string', default: TOOLS.join(',') },
    workloads: { type: 'string', default: WORKLOADS.map((w) => w.id).join(',') },
    'runbook-forks': { type: 'string' },
    'forks-curve': { type: 'string' },
    'max-hosts': { type: 'string' },
    out: { type: 'string' },
    'keep-lab': { type: 'boolean', default: false },
    'reuse-lab': { type: 'boolean', default: false },
  },
});

const say = (m: string): void => void process.stderr.write(`bench: ${m}\n`);
const int = (flag: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} needs a whole number ≥ 1, got "${v}"`);
  return n;
};

const workers = int('workers', o.workers);
const rounds = int('rounds', o.rounds);
const sizes = o.sizes
  ? o.sizes.split(',').map((s) => Math.min(int('sizes', s), workers))
  : [...new Set([10, 100, 500].filter((s) => s < workers).concat(workers))];
const tools = o.tools.split(',').map((t) => {
  if (!TOOLS.includes(t as ToolName)) throw new Error(`--tools: unknown tool "${t}" (one of ${TOOLS.join(', ')})`);
  return t as ToolName;
});
const workloads = o.workloads.split(',').map((id) => {
  const w = WORKLOADS.find((x) => x.id === id);
  if (!w) throw new Error(`--workloads: unknown workload "${id}" (one of ${WORKLOADS.map((x) => x.id).join(', ')})`);
  return w;
});
const runbookForks = o['runbook-forks'] ? int('runbook-forks', o['runbook-forks']) : undefined;
/** `--max-hosts pssh=1000`: a tool's largest fleet, over TOOL_MAX_HOSTS (the report names the ones used). */
const maxHosts = { ...TOOL_MAX_HOSTS };
for (const pair of o['max-hosts']?.split(',') ?? []) {
  const [t, n = ''] = pair.split('=');
  if (!TOOLS.includes(t as ToolName)) throw new Error(`--max-hosts: unknown tool "${t}" in "${pair}" (tool=N, tool one of ${TOOLS.join(', ')})`);
  maxHosts[t as ToolName] = int('max-hosts', n);
}
/** `--forks-curve 25,50,100`: the check workload at the largest size, runbook once per --forks value and round. */
const forksCurve = o['forks-curve'] ? o['forks-curve'].split(',').map((f) => int('forks-curve', f)) : [];

/** First line a tool prints about its version (ssh -V prints on stderr). */
function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? 'unknown';
}

async function startup(): Promise<BenchResults['startup']> {
  const runs = async (args: string[]): Promise<number[]> => {
    const xs: number[] = [];
    for (let i = 0; i < 7; i++) xs.push((await measure(process.execPath, args)).wallS);
    return xs;
  };
  const help = await runs([RUNBOOK_BIN, '--help']);
  const node = await runs(['-e', '0']);
  const rss = (await measure(process.execPath, [RUNBOOK_BIN, '--help'])).rssMB;
  return { runbookHelpS: summarize(help), nodeBareS: summarize(node), runbookHelpRssMB: rss };
}

/**
 * The commit measured: scripts/bench.sh built the working tree just before this started, and
 * commits made during a run (it takes an hour) must not be named in its results. `+dirty` when
 * the tree had changes that no commit holds.
 */
const measured = `${version('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])}${spawnSync('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).stdout?.trim() ? '+dirty' : ''}`;

async function main(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'rb-bench-'));
  const samples: Sample[] = [];
  const curve: Sample[] = [];
  let fleet: Fleet | undefined;
  const stop = (sig: NodeJS.Signals): void => {
    say(`${sig}: tearing the lab down`);
    void fleetDown().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const startedAt = new Date();
  try {
    say(`start-up: runbook --help`);
    const start = await startup();
    say(`lab "${LAB}" with ${workers} light workers`);
    const upStarted = Date.now();
    const reused = o['reuse-lab'] ? fleetReuse(workers) : undefined;
    if (reused) say('reusing the running lab (--reuse-lab)');
    fleet = reused ?? (await fleetUp(workers, say));
    const labUpS = (Date.now() - upStarted) / 1000;
    const auditFile = join(scratch, 'audit.jsonl');
    let seq = 0;
    for (let round = 0; round < rounds; round++) {
      // Alternate: each round starts with the next tool, so no tool always runs on a warm (or cold) fleet.
      const order = tools.map((_, i) => tools[(i + round) % tools.length] as ToolName);
      for (const size of sizes) {
        const hosts = fleet.workers.slice(0, size);
        for (const w of workloads) {
          const steps = renderSteps(w.runbook, fleet.inventory, hosts);
          for (const tool of order) {
            if (size > (maxHosts[tool] ?? Infinity)) continue;
            if (w.breakFirst) await breakForwarding(hosts);
            const dir = join(scratch, `job-${++seq}`);
            mkdirSync(dir, { recursive: true });
            const job: Job = {
              mode: w.mode, runbook: w.runbook, steps, hosts, inventory: fleet.inventory, identityFile: fleet.identityFile,
              knownHostsFile: fleet.knownHostsFile, dir, auditFile, ...(runbookForks ? { runbookForks } : {}),
            };
            const busy = machineCpuS();
            const r = await runTool(tool, job);
            const machineS = machineCpuS() - busy;
            // Every tool must leave the hosts healthy; a broken host would skew the next tool's turn.
            const sick = await unhealthy(hosts);
            if (sick.length > 0) {
              await heal(sick);
              if (r.ok) Object.assign(r, { ok: false, error: `left ${sick.length} hosts unhealthy: ${sick.slice(0, 5).join(' ')}` });
            }
            samples.push({ round: round + 1, size, workload: w.id, tool, load1: loadavg()[0] ?? 0, machineCpuS: machineS, ...r });
            say(`round ${round + 1}/${rounds} N=${size} ${w.id.padEnd(5)} ${tool.padEnd(7)} ${r.wallS.toFixed(2)}s cpu ${r.cpuS.toFixed(2)}s machine cpu ${machineS.toFixed(1)}s rss ${r.rssMB.toFixed(0)}MB${r.ok ? '' : `  FAILED: ${r.error}`}`);
            rmSync(dir, { recursive: true, force: true });
          }
        }
      }
    }
    const curveSize = Math.max(...sizes);
    for (let round = 0; round < (forksCurve.length ? rounds : 0); round++) {
      const hosts = fleet.workers.slice(0, curveSize);
      const w = WORKLOADS[0]!;
      const steps = renderSteps(w.runbook, fleet.inventory, hosts);
      // Rotated as the tools are: no --forks value always runs first.
      for (const forks of forksCurve.map((_, i) => forksCurve[(i + round) % forksCurve.length]!)) {
        const dir = join(scratch, `job-${++seq}`);
        mkdirSync(dir, { recursive: true });
        const r = await runTool('runbook', {
          mode: w.mode, runbook: w.runbook, steps, hosts, inventory: fleet.inventory, identityFile: fleet.identityFile,
          knownHostsFile: fleet.knownHostsFile, dir, auditFile, runbookForks: forks,
        });
        curve.push({ round: round + 1, size: curveSize, workload: w.id, tool: 'runbook', forks, load1: loadavg()[0] ?? 0, ...r });
        say(`forks curve round ${round + 1}/${rounds} N=${curveSize} --forks ${forks}: ${r.wallS.toFixed(2)}s cpu ${r.cpuS.toFixed(2)}s${r.ok ? '' : `  FAILED: ${r.error}`}`);
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const results: BenchResults = {
      date: startedAt.toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', memGB: Math.round(totalmem() / 2 ** 30), loadavg: loadavg() },
      versions: {
        node: process.version, runbook: measured,
        openssh: version('ssh', ['-V']), pssh: version('parallel-ssh', ['--version']), ansible: version('ansible-playbook', ['--version']),
      },
      workers, rounds, sizes, tools, toolMaxHosts: maxHosts, labUpS, startup: start, runbookForks: runbookForks ?? 'default', samples, forksCurve: curve,
    };
    // A second run on the same day gets its start time in the name: an earlier run's samples are never overwritten.
    const day = join(REPO, 'bench/results', `${startedAt.toISOString().slice(0, 10)}.json`);
    const out = o.out ?? (existsSync(day) ? day.replace(/\.json$/, `-${startedAt.toISOString().slice(11, 16).replace(':', '')}.json`) : day);
    mkdirSync(resolve(out, '..'), { recursive: true });
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    const md = renderMarkdown(results);
    const mdFile = o.out ? out.replace(/\.json$/, '') + '.md' : join(REPO, 'bench/results/latest.md');
    writeFileSync(mdFile, md);
    process.stdout.write(md);
    say(`results: ${out}, ${mdFile}`);
  } finally {
    if (fleet && !o['keep-lab']) {
      say('lab down');
      await fleetDown().catch((e: Error) => say(`lab down failed: ${e.message}`));
    }
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  say(`error: ${e.message}`);
  process.exitCode = 1;
});

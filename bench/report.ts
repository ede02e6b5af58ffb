/** The results file's shape and its markdown table (bench/results/latest.md). */
import { summarize, type Summary } from './measure.js';
import type { ToolName, ToolResult } from './tools.js';

export type WorkloadId = 'check' | 'apply' | 'one';

export interface Sample extends ToolResult {
  round: number;
  size: number;
  workload: WorkloadId;
  tool: ToolName;
  /** The machine's 1-minute load average when the run ended. */
  load1: number;
  /** CPU seconds the whole machine spent during the run (measure.ts machineCpuS); absent in results before 2026-12-04. */
  machineCpuS?: number;
  /** The forks curve's runbook --forks (absent: the default). */
  forks?: number;
}

export interface BenchResults {
  date: string;
  machine: { cpus: number; cpuModel: string; memGB: number; loadavg: number[] };
  versions: Record<string, string>;
  workers: number;
  rounds: number;
  sizes: number[];
  tools: ToolName[];
  toolMaxHosts: Partial<Record<ToolName, number>>;
  labUpS: number;
  startup: { runbookHelpS: Summary; nodeBareS: Summary; runbookHelpRssMB: number };
  runbookForks: number | 'default';
  samples: Sample[];
  forksCurve: Sample[];
}

/** The issue's targets (docs/bench.md): against the floor, at 100 hosts and more. */
export const TARGETS = { wallRatio: 1.15, cpuRatio: 1.3, rssMB: 200 };

const TITLES: Record<WorkloadId, string> = {
  check: '(a) check-only: the three checks of fix-forwarding (`runbook apply fix-forwarding --dry-run`)',
  apply: '(b) apply: ip_forward broken (runtime and persisted) on every host, fixed with `--yes`',
  one: '(c) one command on every host (`uname -r`)',
};

export interface Cell {
  wall?: Summary;
  cpu?: Summary;
  rss?: Summary;
  failed: number;
}

export function cell(r: BenchResults, workload: WorkloadId, size: number, tool: ToolName): Cell {
  const all = r.samples.filter((s) => s.workload === workload && s.size === size && s.tool === tool);
  const ok = all.filter((s) => s.ok);
  if (ok.length === 0) return { failed: all.length - ok.length };
  return {
    wall: summarize(ok.map((s) => s.wallS)),
    cpu: summarize(ok.map((s) => s.cpuS)),
    rss: summarize(ok.map((s) => s.rssMB)),
    failed: all.length - ok.length,
  };
}

const f2 = (x: number): string => x.toFixed(2);
const loadRange = (r: BenchResults): string => {
  const xs = [...r.samples, ...r.forksCurve].map((s) => s.load1);
  return xs.length ? `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}` : '–';
};
const secs = (c: Cell): string =>
  c.wall ? `${f2(c.wall.median)}${c.wall.n > 1 ? ` (${f2(c.wall.min)}–${f2(c.wall.max)})` : ''}${c.failed ? ` ⚠${c.failed} failed` : ''}` : c.failed ? `failed ×${c.failed}` : '–';
const ratio = (a: Cell, b: Cell): string => (a.wall && b.wall ? `${f2(a.wall.median / b.wall.median)}×` : '–');

/** runbook ÷ floor round by round (the two ran back to back on the same fleet), over the rounds where both succeeded. */
export function pairedRatio(r: BenchResults, workload: WorkloadId, size: number, field: 'wallS' | 'cpuS'): Summary | undefined {
  const one = (tool: ToolName, round: number) => r.samples.find((s) => s.ok && s.tool === tool && s.workload === workload && s.size === size && s.round === round);
  const xs = [...new Set(r.samples.map((s) => s.round))].flatMap((round) => {
    const rb = one('runbook', round);
    const fl = one('floor', round);
    return rb && fl && fl[field] > 0 ? [rb[field] / fl[field]] : [];
  });
  return xs.length ? summarize(xs) : undefined;
}

const range = (x: Summary, f: (v: number) => string): string => `${f(x.median)}${x.n > 1 ? ` (${f(x.min)}–${f(x.max)})` : ''}`;

function targets(r: BenchResults, workloads: WorkloadId[]): string[] {
  const out = ['## Against the targets', '', `runbook ÷ floor, paired round by round: wall ≤ ${TARGETS.wallRatio}×, client CPU ≤ ${TARGETS.cpuRatio}×; peak RSS ≤ ${TARGETS.rssMB} MB at the largest N. Median (min–max) over the rounds.`, ''];
  out.push('| workload | N | wall ratio | met | CPU ratio | met | runbook peak RSS MB | met |', '|---|---:|---|---|---|---|---:|---|');
  const top = Math.max(...r.sizes);
  for (const w of workloads.filter((x) => x !== 'one')) {
    for (const n of r.sizes.filter((x) => x >= 100)) {
      const wall = pairedRatio(r, w, n, 'wallS');
      const cpu = pairedRatio(r, w, n, 'cpuS');
      const rss = cell(r, w, n, 'runbook').rss;
      const yes = (ok: boolean | undefined): string => (ok === undefined ? '–' : ok ? 'yes' : '**no**');
      out.push(
        `| ${w} | ${n} | ${wall ? range(wall, (v) => `${f2(v)}×`) : '–'} | ${yes(wall && wall.median <= TARGETS.wallRatio)} | ${cpu ? range(cpu, (v) => `${f2(v)}×`) : '–'} | ${yes(cpu && cpu.median <= TARGETS.cpuRatio)} | ` +
          `${rss ? rss.max.toFixed(0) : '–'} | ${n === top ? yes(rss && rss.max <= TARGETS.rssMB) : ''} |`,
      );
    }
  }
  out.push('');
  return out;
}

/**
 * Where the wall time went on a saturated machine: the CPU every process spent during each run
 * (the tool, and each host's sshd and shells), against the tool's own. Results without it are
 * left without the section.
 */
function machineCpu(r: BenchResults, workloads: WorkloadId[]): string[] {
  const of = (w: WorkloadId, n: number, t: ToolName, f: (s: Sample) => number | undefined): Summary | undefined => {
    const xs = r.samples.filter((s) => s.ok && s.workload === w && s.size === n && s.tool === t).flatMap((s) => (f(s) === undefined ? [] : [f(s)!]));
    return xs.length ? summarize(xs) : undefined;
  };
  const rows: string[] = [];
  for (const w of workloads) {
    for (const n of r.sizes) {
      const [rm, fm] = [of(w, n, 'runbook', (s) => s.machineCpuS), of(w, n, 'floor', (s) => s.machineCpuS)];
      const [rc, fc] = [of(w, n, 'runbook', (s) => s.cpuS), of(w, n, 'floor', (s) => s.cpuS)];
      if (!rm || !fm || !rc || !fc) continue;
      const hosts = (m: Summary, c: Summary): number => m.median - c.median;
      rows.push(`| ${w} | ${n} | ${range(rm, f2)} | ${range(fm, f2)} | ${f2(rm.median / fm.median)}× | ${f2(hosts(rm, rc))} | ${f2(hosts(fm, fc))} |`);
    }
  }
  if (!rows.length) return [];
  return [
    "## Machine CPU during each run (median s): every process's, the tool's own included",
    '',
    "The rest (machine − the tool's own CPU) is mostly the hosts' side: each worker's sshd and shells, and the kernel's work for them.",
    '',
    '| workload | N | runbook: machine | floor: machine | ratio | runbook: the rest | floor: the rest |',
    '|---|---:|---|---|---:|---:|---:|',
    ...rows,
    '',
  ];
}

function perHost(r: BenchResults, workloads: WorkloadId[]): string[] {
  const out = ['## Cost per host (median wall ms ÷ N)', '', `| workload | tool | ${r.sizes.map((n) => `N=${n}`).join(' | ')} |`, `|---|---|${r.sizes.map(() => '---:').join('|')}|`];
  for (const w of workloads) {
    for (const t of ['runbook', 'floor'] as ToolName[]) {
      out.push(`| ${w} | ${t} | ${r.sizes.map((n) => { const c = cell(r, w, n, t); return c.wall ? ((c.wall.median / n) * 1000).toFixed(1) : '–'; }).join(' | ')} |`);
    }
  }
  out.push('');
  return out;
}

function forksCurve(r: BenchResults): string[] {
  if (!r.forksCurve.length) return [];
  const size = r.forksCurve[0]!.size;
  const out = [`## runbook --forks at N=${size} (check workload)`, '', '| --forks | wall s | CPU s | peak RSS MB | failed runs |', '|---:|---|---|---:|---:|'];
  for (const f of [...new Set(r.forksCurve.map((s) => s.forks ?? 0))].sort((a, b) => a - b)) {
    const all = r.forksCurve.filter((s) => s.forks === f);
    const ok = all.filter((s) => s.ok);
    const wall = ok.length ? summarize(ok.map((s) => s.wallS)) : undefined;
    const cpu = ok.length ? summarize(ok.map((s) => s.cpuS)) : undefined;
    out.push(`| ${f} | ${wall ? range(wall, f2) : '–'} | ${cpu ? range(cpu, f2) : '–'} | ${ok.length ? Math.max(...ok.map((s) => s.rssMB)).toFixed(0) : '–'} | ${all.length - ok.length} of ${all.length} |`);
  }
  const failed = r.forksCurve.filter((s) => !s.ok);
  if (failed.length) out.push('', ...failed.slice(0, 5).map((s) => `- round ${s.round}, --forks ${s.forks}: ${s.error ?? 'failed'}`));
  out.push('');
  return out;
}

export function renderMarkdown(r: BenchResults): string {
  const out: string[] = [];
  out.push(`# runbook benchmark, ${r.date.slice(0, 16).replace('T', ' ')} UTC`, '');
  out.push(
    `${r.workers} light bench workers (up in ${r.labUpS.toFixed(0)} s), ${r.rounds} round(s), tools alternating round by round; ` +
      `${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memGB} GB; 1-minute load average after each run ${loadRange(r)}, at the end ${r.machine.loadavg.map((x) => x.toFixed(1)).join(' ')}.`,
    `Versions: runbook ${r.versions.runbook}, node ${r.versions.node}, ${r.versions.openssh}, ${r.versions.pssh ? `pssh ${r.versions.pssh}` : ''}, ${r.versions.ansible}.`,
    `runbook runs with --forks ${r.runbookForks}; parallel-ssh with -p N; ansible-playbook with forks = N; the floor connects to all N at once.`,
    `Largest N per tool: ${Object.entries(r.toolMaxHosts).map(([t, n]) => `${t} ${n}`).join(', ')} (beyond that a run takes minutes and says nothing new); a cell past it is –.`,
    '',
    `Times are wall seconds, median (min–max) over the rounds. Ratios below 1 mean runbook was faster. CPU and peak RSS are runbook's own process (GNU time).`,
    '',
    `Start-up: \`runbook --help\` ${f2(r.startup.runbookHelpS.median)} s (bare \`node -e 0\`: ${f2(r.startup.nodeBareS.median)} s), ${r.startup.runbookHelpRssMB.toFixed(0)} MB.`,
    '',
  );
  const workloads = [...new Set(r.samples.map((s) => s.workload))];
  for (const w of workloads) {
    out.push(`## ${TITLES[w]}`, '');
    out.push('| N | runbook s | pssh s | ansible s | floor s | runbook/pssh | runbook/ansible | runbook/floor | runbook CPU s | floor CPU s | runbook peak RSS MB | floor peak RSS MB |');
    out.push('|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const n of r.sizes) {
      const c = (t: ToolName): Cell => cell(r, w, n, t);
      const rb = c('runbook');
      const fl = c('floor');
      out.push(
        `| ${n} | ${secs(rb)} | ${secs(c('pssh'))} | ${secs(c('ansible'))} | ${secs(fl)} | ${ratio(rb, c('pssh'))} | ${ratio(rb, c('ansible'))} | ${ratio(rb, fl)} | ` +
          `${rb.cpu ? f2(rb.cpu.median) : '–'} | ${fl.cpu ? f2(fl.cpu.median) : '–'} | ${rb.rss ? rb.rss.max.toFixed(0) : '–'} | ${fl.rss ? fl.rss.max.toFixed(0) : '–'} |`,
      );
    }
    out.push('');
  }
  if (r.tools.includes('runbook') && r.tools.includes('floor')) out.push(...targets(r, workloads), ...perHost(r, workloads), ...machineCpu(r, workloads));
  out.push(...forksCurve(r));
  if (r.tools.includes('runbook-volatile')) {
    out.push('## What the write-ahead audit costs', '');
    out.push('runbook as above (its trail on disk: every command waits for its record\'s fsync before it is sent) against runbook with the trail on tmpfs, where fsync returns at once.', '');
    out.push('| workload | N | runbook s | trail on tmpfs s | write-ahead costs |');
    out.push('|---|---:|---|---|---:|');
    for (const w of workloads) {
      for (const n of r.sizes) {
        const rb = cell(r, w, n, 'runbook');
        const vol = cell(r, w, n, 'runbook-volatile');
        const cost = rb.wall && vol.wall ? `${f2(rb.wall.median - vol.wall.median)} s (${(((rb.wall.median - vol.wall.median) / vol.wall.median) * 100).toFixed(0)}%)` : '–';
        out.push(`| ${w} | ${n} | ${secs(rb)} | ${secs(vol)} | ${cost} |`);
      }
    }
    out.push('');
  }
  const failures = r.samples.filter((s) => !s.ok);
  if (failures.length) {
    out.push('## Failed runs (left out of the medians)', '');
    for (const s of failures) out.push(`- round ${s.round}, N=${s.size}, ${s.workload}, ${s.tool}: ${s.error ?? 'failed'}`);
    out.push('');
  }
  return out.join('\n');
}

/** The results file's shape and its markdown table (bench/results/latest.md). */
import { summarize, type Summary } from './measure.js';
import type { ToolName, ToolResult } from './tools.js';

export type WorkloadId = 'check' | 'apply' | 'one';

export interface Sample extends ToolResult {
  round: number;
  size: number;
  workload: WorkloadId;
  tool: ToolName;
}

export interface BenchResults {
  date: string;
  machine: { cpus: number; cpuModel: string; memGB: number; loadavg: number[] };
  versions: Record<string, string>;
  workers: number;
  rounds: number;
  sizes: number[];
  tools: ToolName[];
  labUpS: number;
  startup: { runbookHelpS: Summary; nodeBareS: Summary; runbookHelpRssMB: number };
  runbookForks: number | 'default';
  samples: Sample[];
}

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
const secs = (c: Cell): string =>
  c.wall ? `${f2(c.wall.median)}${c.wall.n > 1 ? ` (${f2(c.wall.min)}–${f2(c.wall.max)})` : ''}${c.failed ? ` ⚠${c.failed} failed` : ''}` : c.failed ? `failed ×${c.failed}` : '–';
const ratio = (a: Cell, b: Cell): string => (a.wall && b.wall ? `${f2(a.wall.median / b.wall.median)}×` : '–');

export function renderMarkdown(r: BenchResults): string {
  const out: string[] = [];
  out.push(`# runbook benchmark, ${r.date.slice(0, 16).replace('T', ' ')} UTC`, '');
  out.push(
    `${r.workers} lab workers (lab up in ${r.labUpS.toFixed(0)} s), ${r.rounds} round(s), tools alternating round by round; ` +
      `${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memGB} GB; load average at the end ${r.machine.loadavg.map((x) => x.toFixed(1)).join(' ')}.`,
    `Versions: runbook ${r.versions.runbook}, node ${r.versions.node}, ${r.versions.openssh}, ${r.versions.pssh ? `pssh ${r.versions.pssh}` : ''}, ${r.versions.ansible}.`,
    `runbook runs with --forks ${r.runbookForks}; parallel-ssh with -p N; ansible-playbook with forks = N; the floor connects to all N at once.`,
    '',
    `Times are wall seconds, median (min–max) over the rounds. Ratios below 1 mean runbook was faster. CPU and peak RSS are runbook's own process (GNU time).`,
    '',
    `Start-up: \`runbook --help\` ${f2(r.startup.runbookHelpS.median)} s (bare \`node -e 0\`: ${f2(r.startup.nodeBareS.median)} s), ${r.startup.runbookHelpRssMB.toFixed(0)} MB.`,
    '',
  );
  const workloads = [...new Set(r.samples.map((s) => s.workload))];
  for (const w of workloads) {
    out.push(`## ${TITLES[w]}`, '');
    out.push('| N | runbook s | pssh s | ansible s | floor s | runbook/pssh | runbook/ansible | runbook/floor | runbook CPU s | runbook peak RSS MB | runbook ms/host | floor ms/host |');
    out.push('|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const n of r.sizes) {
      const c = (t: ToolName): Cell => cell(r, w, n, t);
      const rb = c('runbook');
      const fl = c('floor');
      out.push(
        `| ${n} | ${secs(rb)} | ${secs(c('pssh'))} | ${secs(c('ansible'))} | ${secs(fl)} | ${ratio(rb, c('pssh'))} | ${ratio(rb, c('ansible'))} | ${ratio(rb, fl)} | ` +
          `${rb.cpu ? f2(rb.cpu.median) : '–'} | ${rb.rss ? rb.rss.max.toFixed(0) : '–'} | ${rb.wall ? ((rb.wall.median / n) * 1000).toFixed(0) : '–'} | ${fl.wall ? ((fl.wall.median / n) * 1000).toFixed(0) : '–'} |`,
      );
    }
    out.push('');
  }
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

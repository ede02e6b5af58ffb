/**
 * `--shard K/N`: one of N controllers takes the hosts whose sha256(host name) mod N is K−1, so a
 * job engine (a Kubernetes Indexed Job, a CI matrix, Nomad) can fan one run out. The split
 * depends on the host name alone: every shard computes it without talking to the others, and a
 * host keeps its shard when others join or leave the inventory.
 *
 * A runbook whose meaning spans the whole fleet would mean something else in each shard, so it is
 * refused: a `once:` step (once per shard is N times), `serial` and `max_failures` (counted per
 * shard), and commands or conditions that read other hosts (`hosts.*`, `groups.*`: each shard
 * sees only its own hosts' registered values).
 */
import { createHash } from 'node:crypto';
import type { Problem } from './errors.js';
import { conditionRefs, parseCondition } from './condition.js';
import { templatePaths } from './template.js';
import { stepTemplates, type CommandTemplate, type Runbook } from './types.js';
import { loadYamlFile } from './yaml-source.js';

export interface Shard {
  k: number;
  n: number;
}

/** `K/N` with 1 ≤ K ≤ N, or the reason it is not one. */
export function parseShard(text: string): Shard | string {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(text);
  if (!m) return `--shard "${text}" is not K/N`;
  const k = Number(m[1]);
  const n = Number(m[2]);
  if (n < 1 || k < 1 || k > n) return `--shard ${text}: K must be 1 to N (N ≥ 1)`;
  return { k, n };
}

export function inShard(hostName: string, s: Shard): boolean {
  const digest = BigInt(`0x${createHash('sha256').update(hostName, 'utf8').digest('hex')}`);
  return digest % BigInt(s.n) === BigInt(s.k - 1);
}

/** Other hosts' vars and registered values, and the run's targets per group. (`inventory` is the whole inventory in every shard alike.) */
const FLEET_WIDE = new Set(['hosts', 'groups']);

/** The paths a when: condition reads (none when it does not parse: validation reports that). */
function whenPaths(text: string): string[][] {
  try {
    return conditionRefs(parseCondition(text)).paths;
  } catch {
    return [];
  }
}
const HINT = 'run it without --shard, from one controller';

/** Why this runbook cannot be split into shards: one located line per reason (empty: it can). */
export function shardProblems(runbook: Runbook): Problem[] {
  const problems: Problem[] = [];
  const src = runbook.serial !== undefined || runbook.maxFailures !== undefined ? loadYamlFile(runbook.file, 'runbook') : undefined;
  if (runbook.serial !== undefined) problems.push({ pos: src!.posAt(['serial']), message: 'serial batches the whole fleet, and each shard would batch only its own hosts', hint: HINT });
  if (runbook.maxFailures !== undefined) problems.push({ pos: src!.posAt(['max_failures']), message: 'max_failures counts failures across the fleet, and each shard would count only its own', hint: HINT });
  for (const step of [...runbook.steps, ...runbook.handlers]) {
    if (step.once) problems.push({ pos: step.pos, message: `step "${step.name}" runs once for the fleet, and under --shard it would run once per shard`, hint: HINT });
    // Commands read {{ paths }}; a when: condition reads bare paths.
    const reads: { pos: CommandTemplate['pos']; paths: string[][]; shown: (p: string[]) => string }[] = [
      ...stepTemplates(step).map((t) => ({ pos: t.pos, paths: templatePaths(t.text), shown: (p: string[]) => `{{ ${p.join('.')} }}` })),
      ...(step.when ? [{ pos: step.when.pos, paths: whenPaths(step.when.text), shown: (p: string[]) => `when: ${p.join('.')}` }] : []),
    ];
    for (const r of reads) {
      const wide = r.paths.find((p) => FLEET_WIDE.has(p[0]!));
      if (wide) {
        problems.push({ pos: r.pos, message: `step "${step.name}" reads ${r.shown(wide)}, other hosts' values, and a shard sees only its own hosts`, hint: HINT });
        break;
      }
    }
  }
  return problems;
}

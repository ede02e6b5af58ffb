/**
 * `--shard K/N` and `--run-id ID` for apply and plan: which of the selected hosts this controller
 * takes (model/shard.ts), under the run id all shards share, checked before anything connects.
 */
import { UserError } from '../model/errors.js';
import { inShard, parseShard, shardProblems, type Shard } from '../model/shard.js';
import type { Host, Runbook } from '../model/types.js';
import { listRuns } from '../report/history.js';

export interface ShardOptions {
  shard?: string;
  maxFailures?: number | string;
  batch?: number | string;
  canary?: number;
  runId?: string;
  plan?: string;
  undo?: string;
  resume?: string;
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The shard this run takes, undefined without --shard; every reason it cannot be split is an error now. */
export function shardFor(opts: ShardOptions, runbook: Runbook): Shard | undefined {
  if (opts.shard === undefined) return undefined;
  const parsed = parseShard(opts.shard);
  if (typeof parsed === 'string') throw new UserError({ message: parsed, hint: 'e.g. --shard 2/8: the second of 8 controllers; in an Indexed Job, --shard $((JOB_COMPLETION_INDEX+1))/N' });
  const other = opts.undo !== undefined ? 'undo' : opts.resume !== undefined ? 'resume' : opts.plan !== undefined ? '--plan' : undefined;
  if (other) throw new UserError({ message: `--shard splits a new run over controllers; ${other} works on one run's own hosts`, hint: 'drop --shard' });
  const rollout = opts.maxFailures !== undefined ? '--max-failures' : opts.batch !== undefined ? '--batch' : opts.canary !== undefined ? '--canary' : undefined;
  if (rollout) throw new UserError({ message: `${rollout} counts hosts across the fleet, and under --shard each shard would count only its own`, hint: `drop ${rollout}, or run without --shard from one controller` });
  if (opts.runId === undefined) throw new UserError({ message: '--shard needs --run-id: the id every shard of the run shares, so their trails merge into one run', hint: 'e.g. --run-id "$JOB_NAME" in a Kubernetes Job, the same value in every shard' });
  const problems = shardProblems(runbook);
  if (problems.length) throw new UserError(problems);
  return parsed;
}

/** A given --run-id: a safe name, and not already a run in this trail. */
export function checkRunId(id: string | undefined, auditFile: string): string | undefined {
  if (id === undefined) return undefined;
  if (!RUN_ID.test(id)) throw new UserError({ message: `--run-id "${id}" is not a run id`, hint: 'letters, digits, . _ and -, at most 64, starting with a letter or digit' });
  if (listRuns(auditFile).some((r) => r.runId === id)) throw new UserError({ message: `run ${id} is already in ${auditFile}`, hint: 'a run id names one run; each shard writes its own --audit-file' });
  return id;
}

export function hostsOfShard(hosts: Host[], shard: Shard | undefined): Host[] {
  return shard ? hosts.filter((h) => inShard(h.name, shard)) : hosts;
}

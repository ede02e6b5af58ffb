/** Process exit codes (the CLI exits with them; the engine and the audit trail record them); documented in the README's "Exit codes" table. Keep them in sync. */
export const ExitCode = {
  /** Every step on every host is ok or fixed. */
  OK: 0,
  /** A step failed, or a host was unreachable / its outcome unknown. */
  FAILED: 1,
  /** Bad command line, bad YAML, unknown host pattern, missing runbook: nothing ran. */
  USAGE: 2,
  /** Dry run: at least one fix is pending. */
  PENDING: 3,
  /** Another operator holds the host lock. */
  LOCKED: 4,
  /** A bug in runbook itself. */
  INTERNAL: 70,
  /** The operator quit or pressed Ctrl-C. */
  ABORTED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code for a run's verdict (engine/status.ts RunVerdict). */
export const EXIT_CODE_FOR_VERDICT = {
  ok: ExitCode.OK,
  pending: ExitCode.PENDING,
  failed: ExitCode.FAILED,
  locked: ExitCode.LOCKED,
  aborted: ExitCode.ABORTED,
} as const satisfies Record<string, ExitCode>;

/**
 * The exit code of one run recorded in parts (its shards): the worst part's, in the order the
 * engine judges a run (runVerdict: aborted, then failed, then locked, then pending, then ok), not
 * the largest number. A code outside the verdicts (internal error, usage) is worse than all.
 */
export function worstExitCode(codes: readonly number[]): number {
  const order: readonly number[] = [ExitCode.OK, ExitCode.PENDING, ExitCode.LOCKED, ExitCode.FAILED, ExitCode.ABORTED];
  const rank = (c: number): number => (order.includes(c) ? order.indexOf(c) : order.length);
  return codes.reduce((worst, c) => (rank(c) > rank(worst) ? c : worst), ExitCode.OK);
}

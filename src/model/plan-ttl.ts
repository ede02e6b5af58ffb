/** How long a saved plan may be applied after it was made, unless `--expires` says otherwise (light: the CLI reads it for --help). */
export const DEFAULT_PLAN_TTL_MS = 24 * 3600_000;
/** The longest `--expires`: a plan is a decision about a fleet's state now, not next year's. */
export const MAX_PLAN_TTL_MS = 30 * 24 * 3600_000;

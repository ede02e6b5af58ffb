/**
 * The model layer's public API: what the CLI, the engine and apply call. Typical use:
 *
 *   const runbook = loadRunbook(name, { runbookDirs: opts.runbooks });
 *   const inventory = loadInventory(resolveInventoryPath({ inventory: opts.inventory }));
 *   const hosts = selectHosts(inventory, opts.hosts ?? 'all', { namedSets: { failed } });
 *   const cliVars = operatorVars({ env: process.env, varFiles: opts.varFile ?? [], vars: opts.var ?? [] });
 *   const ctx = buildTemplateContext({ runbook, inventory, host, cliVars });
 *   const { command, display } = renderCommand(step.check, ctx, { step: step.name });
 *   const redact = createRedactor(contextSecrets(ctx));   // for host output
 *
 * Every function throws UserError (src/model/errors.ts) for problems the user can fix.
 */
export * from './types.js';
export { UserError, formatProblem, type Problem, type SourcePos } from './errors.js';
export { loadRunbook, findRunbook, fixedByProblems, listRunbookFiles, runbookDirs, BUILTIN_RUNBOOK_DIR, type RunbookEntry, type RunbookDirsOptions } from './runbook-discovery.js';
export { loadRunbookFile, checkRunbookFile, checkRunbookText } from './runbook-load.js';
export { maskedVars, operatorVars, parseCliVars, VAR_ENV_PREFIX } from './operator-vars.js';
export { onPatternProblems, renderProblems, type RenderCheckOptions } from './render-check.js';
export { resolveInventoryPath, loadInventory, checkInventory, refuseExampleInventory, DEFAULT_INVENTORY, type InventoryLocation } from './inventory-load.js';
export { selectHosts, selectRunbookHosts, splitPattern, type SelectOptions } from './host-pattern.js';
export {
  buildTemplateContext,
  renderCommand,
  contextSecrets,
  templatePaths,
  lookupValue,
  templateProblems,
  type TemplateContext,
  type BuildContextOptions,
  type Rendered,
} from './template.js';
export { createRedactor, MASK, UnavailableSecret, type Redactor } from './secrets.js';
export { shellQuote } from './shell-quote.js';
export { parseDuration } from './duration.js';
export { closeMatches, didYouMean } from './suggest.js';
export { jsonSchema, jsonSchemaText, SCHEMA_KINDS, type SchemaKind } from './json-schema.js';
export { RUNBOOK_NAME_RE } from './runbook-schema.js';
export { MAX_FILE_BYTES, MAX_ALIAS_COUNT } from './yaml-source.js';
export {
  readPlanFile,
  readPlanFileBytes,
  checkPlanOut,
  writePlanFile,
  sealPlan,
  DEFAULT_PLAN_TTL_MS,
  REMAKE_PLAN,
  type PlanFile,
  type PlanBody,
  type PlannedStepFile,
  type CheckPrint,
} from './plan-file.js';

/** The engine's public API. */
export { EventBus } from './bus.js';
export { DEFAULT_DRAIN_TIMEOUT_MS, type DrainPlan } from './node-drain.js';
export { RunControl } from './control.js';
export type * from './events.js';
export { buildPlan, planStep, PLAN_VERSION, type CommandRenderer, type DrainOptions, type HostPlan, type Plan, type PlannedStep, type RenderedCommand, type RunMode } from './plan.js';
export {
  approves,
  autoApprove,
  createInteractiveGate,
  type Approval,
  type ApprovalGate,
  type ApprovalRequest,
  type PromptAnswer,
  type Prompter,
} from './approval.js';
export { execAndReport, runHost, runStep, type Connect, type HostRunContext } from './host-run.js';
export { reportStepResult, type HostOutcome, type StepOutcome } from './step-report.js';
export { isFailed, isGreen, isPending, statusClass, statusesOf, type RunVerdict, type StatusClass } from './status.js';
export { DEFAULT_FORKS, parallelStrategy, type RunOneHost, type Strategy, type StrategyHooks } from './strategy.js';
export { runVerdict, summarize, type HostCounts } from './summary.js';
export { DEFAULT_STEP_TIMEOUT_MS, newRunId, runPlan, type RunOptions, type RunResult } from './run.js';
export { neutralize, oneLine, outputTail, type Redact } from './sanitize.js';
export { judge, matchesExpectation, type Verdict } from './judge.js';
export { Fleet } from './fleet.js';
export { templateBindings, type FleetBindings } from './bindings.js';
export { onceHostNames } from './once.js';
export type { DoneStep, ResumeFrom } from './resume.js';
export { canaryReport, planBatches, resolveCount, rolloutStrategy, type CanaryReport, type CountSpec, type RolloutOptions } from './rollout.js';
export { failureLimit } from './rollout-limit.js';
export { parseCondition, evaluateCondition, ConditionError, ConditionSyntaxError, type ConditionNode, type ConditionScope } from '../model/condition.js';
export { Registry, type RegisteredValues } from './registry.js';
export { planGuard, type PlanGuard, type GuardDecision } from './plan-guard.js';
export { hostIdentity } from './plan-identity.js';
export { checkPrint, driftBetween } from './drift.js';
export { undoPlan, undoStepName, UNDO_MAX_BYTES, type FixedStep, type ReadCapture } from './undo.js';

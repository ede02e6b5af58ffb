/**
 * `runbook plan`: what the dry run found, per host and step, heard from the event stream like any
 * report: each step's result and the print of its check (outcome, exit code, output digest, drift
 * matches), for the saved plan to keep.
 */
import type { RunEvent, RunEventListener, StepStatus } from '../engine/events.js';
import type { CheckPrint } from '../model/plan-file.js';

export interface PlannedResult {
  status: StepStatus;
  reason?: string;
  checkOutput?: string;
  fixCommands?: string[];
  verifyCommand?: string;
  commandsDigest?: string;
  print?: CheckPrint;
}

export interface PlanRecorder {
  listener: RunEventListener;
  /** The dry run's result for a host's step (by index), with its check's print. */
  step(host: string, index: number): PlannedResult | undefined;
}

export function createPlanRecorder(): PlanRecorder {
  // A step's check is its last command of phase check (a `needs` lookup comes first).
  const prints = new Map<string, CheckPrint>();
  const results = new Map<string, PlannedResult>();
  const listener = (e: RunEvent): void => {
    if (e.type === 'command' && e.phase === 'check') {
      prints.set(`${e.host}\n${e.step}`, { outcome: e.outcome, exitCode: e.exitCode, digest: e.output.digest, ...(e.output.matches ? { matches: e.output.matches } : {}) });
    } else if (e.type === 'step-result') {
      const print = prints.get(`${e.host}\n${e.step}`);
      results.set(`${e.host}\n${e.stepIndex}`, {
        status: e.status,
        ...(e.reason !== undefined ? { reason: e.reason } : {}),
        ...(e.checkOutput !== undefined ? { checkOutput: e.checkOutput } : {}),
        ...(e.fixCommands !== undefined ? { fixCommands: e.fixCommands } : {}),
        ...(e.verifyCommand !== undefined ? { verifyCommand: e.verifyCommand } : {}),
        ...(e.commandsDigest !== undefined ? { commandsDigest: e.commandsDigest } : {}),
        ...(print ? { print } : {}),
      });
      prints.delete(`${e.host}\n${e.step}`);
    }
  };
  return { listener, step: (host, index) => results.get(`${host}\n${index}`) };
}

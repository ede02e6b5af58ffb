/**
 * The engine's only output: a stream of events. The live view, --json, the recap and the audit
 * trail are listeners on this stream (src/report/*); none of them is called by the engine directly.
 * The --json format is these objects, one per line; docs/events.md documents it.
 * All strings that could carry a secret are masked by the engine before an event is emitted.
 */

import type { z } from 'zod';
import type { decision, fileState, outputTail, phase, runEventSchema, stepStatus } from './events-schema.js';

// One definition: the types are the schema's.
export type StepStatus = z.infer<typeof stepStatus>;
export type Phase = z.infer<typeof phase>;
export type ApprovalDecision = z.infer<typeof decision>;
export type OutputTail = z.infer<typeof outputTail>;
export type RunEvent = z.infer<typeof runEventSchema>;
export type RunPlanRef = NonNullable<Extract<RunEvent, { type: 'run-start' }>['plan']>;
export type FileState = z.infer<typeof fileState>;
export type RunEventListener = (event: RunEvent) => void;

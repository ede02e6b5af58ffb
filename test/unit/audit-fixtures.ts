/** A synthetic run's events, shared by the audit tests. */
import type { RunEvent, StepStatus } from '../../src/engine/events.js';

export const SECRET = 's3cr3t-P@ss';

export function syntheticRun(runId: string, runbook = 'fix-forwarding', opts: { withEnd?: boolean } = {}): RunEvent[] {
  const t = (n: number): string => new Date(Date.UTC(2025, 0, 1, 12, 0, n)).toISOString();
  const out = (tail: string) => ({ tail, digest: 'ab'.repeat(32), truncated: false });
  const cmd = (n: number, host: string, step: string, phase: 'check' | 'fix' | 'verify', command: string, exitCode: number | null, outcome: 'exit' | 'lost' = 'exit'): RunEvent => ({
    type: 'command', time: t(n), runId, host, step, phase, commandId: `${runId}.${n}`, command, outcome, exitCode, durationMs: 12.4, output: out(`${phase} output on ${host}`),
    ...(phase === 'fix' ? { approval: { decision: 'yes' as const, by: 'alice' } } : {}),
  });
  const result = (n: number, host: string, step: string, stepIndex: number, status: StepStatus, reason?: string): RunEvent => ({
    type: 'step-result', time: t(n), runId, host, step, stepIndex, status, reason, durationMs: 30,
  });
  const events: RunEvent[] = [
    { type: 'run-start', time: t(0), runId, runbook, runbookFile: `runbooks/${runbook}.yaml`, runbookHash: 'cd'.repeat(32), operator: 'alice', mode: 'apply', hosts: ['w1', 'w2', 'w3'], steps: ['ip_forward', 'forward-policy'] },
    { type: 'host-connect', time: t(1), runId, host: 'w1', ok: true, durationMs: 5 },
    { type: 'host-connect', time: t(1), runId, host: 'w3', ok: false, error: 'connect timeout after 5s', durationMs: 5000 },
    cmd(2, 'w1', 'ip_forward', 'check', 'sysctl -n net.ipv4.ip_forward', 0),
    result(3, 'w1', 'ip_forward', 0, 'ok'),
    cmd(4, 'w2', 'ip_forward', 'check', 'sysctl -n net.ipv4.ip_forward', 1),
    { type: 'approval', time: t(5), runId, host: 'w2', step: 'ip_forward', decision: 'yes', by: 'alice' },
    cmd(6, 'w2', 'ip_forward', 'fix', `sysctl -w net.ipv4.ip_forward=1 && echo ${SECRET} >/dev/null`, 0),
    cmd(7, 'w2', 'ip_forward', 'verify', 'sysctl -n net.ipv4.ip_forward', 0),
    result(8, 'w2', 'ip_forward', 0, 'fixed'),
    cmd(9, 'w1', 'forward-policy', 'check', 'iptables -S FORWARD | head -1', null, 'lost'),
    result(10, 'w1', 'forward-policy', 1, 'unknown', 'channel closed without exit status'),
    cmd(11, 'w2', 'forward-policy', 'check', 'iptables -S FORWARD | head -1', 1),
    cmd(12, 'w2', 'forward-policy', 'fix', 'iptables -P FORWARD ACCEPT', 1),
    result(13, 'w2', 'forward-policy', 1, 'failed', 'fix exited 1'),
    result(14, 'w3', 'ip_forward', 0, 'unreachable', 'connect timeout after 5s'),
    result(14, 'w3', 'forward-policy', 1, 'unreachable', 'connect timeout after 5s'),
  ];
  if (opts.withEnd !== false) {
    events.push({
      type: 'run-end', time: t(15), runId, exitCode: 1, aborted: false, durationMs: 15000,
      summary: { w1: { ok: 1, unknown: 1 }, w2: { fixed: 1, failed: 1 }, w3: { unreachable: 2 } },
    });
  }
  return events;
}

/** Masks the test secret the way the engine's redactor would. */
export const redactSecret = (s: string): string => s.split(SECRET).join('********');

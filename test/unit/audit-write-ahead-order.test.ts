/**
 * The write-ahead order apply relies on: a command, and a kill the transport sends on its own, go
 * out only once the audit trail's flush has resolved (its start record is on disk).
 */
import { describe, expect, it } from 'vitest';
import { afterAuditFlush } from '../../src/cli/audit-flush.js';
import type { Connection, ExecOptions, ExecResult } from '../../src/transport/types.js';

/** An audit trail whose flush resolves (or fails) only when the test says so. */
function manualFlush() {
  const pending: { resolve: () => void; reject: (err: Error) => void }[] = [];
  return {
    flush: () => new Promise<void>((resolve, reject) => void pending.push({ resolve, reject })),
    pending,
  };
}

const ok: ExecResult = { outcome: 'exit', code: 0, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };

/** Records what reached the host, in order. */
function fakeConnection(log: string[], onExec?: (options?: ExecOptions) => Promise<void>): Connection {
  return {
    host: 'h1',
    async exec(command, options) {
      log.push(`sent ${command}`);
      await onExec?.(options);
      return ok;
    },
    close: async () => undefined,
  };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 10));
const noStop = { stop: () => undefined };

describe('afterAuditFlush', () => {
  it('sends a command only after the audit flush resolves', async () => {
    const log: string[] = [];
    const audit = manualFlush();
    const conn = afterAuditFlush(fakeConnection(log), audit, noStop);
    const done = conn.exec('sysctl -w net.ipv4.ip_forward=1');
    await settle();
    expect(log).toEqual([]);
    expect(audit.pending).toHaveLength(1);
    log.push('flushed');
    audit.pending[0]!.resolve();
    await expect(done).resolves.toBe(ok);
    expect(log).toEqual(['flushed', 'sent sysctl -w net.ipv4.ip_forward=1']);
  });

  it('lets the transport send a kill only after the kill\'s own record is flushed', async () => {
    const log: string[] = [];
    const audit = manualFlush();
    let killStarting: Promise<string | undefined> | undefined;
    // The transport asks to kill while the command runs (a timeout): it awaits starting() before sending.
    const inner = fakeConnection(log, async (options) => {
      killStarting = options!.onKill!.starting('kill -TERM 123');
      void killStarting.then((id) => log.push(`kill sent as ${id}`));
      await killStarting;
    });
    const conn = afterAuditFlush(inner, audit, noStop);
    const onKill = {
      starting: async (command: string) => {
        log.push(`kill announced: ${command}`);
        return 'run.7';
      },
      ended: () => undefined,
    };
    const done = conn.exec('sleep 60', { onKill });
    audit.pending[0]!.resolve();
    await settle();
    expect(log).toEqual(['sent sleep 60', 'kill announced: kill -TERM 123']);
    // The kill's record is written; until it is flushed, starting() has not resolved.
    expect(audit.pending).toHaveLength(2);
    log.push('flushed');
    audit.pending[1]!.resolve();
    await done;
    expect(log).toEqual(['sent sleep 60', 'kill announced: kill -TERM 123', 'flushed', 'kill sent as run.7']);
  });

  it('sends nothing, and stops the run, when the flush fails', async () => {
    const log: string[] = [];
    const audit = manualFlush();
    const stops: string[] = [];
    const conn = afterAuditFlush(fakeConnection(log), audit, { stop: (reason) => void stops.push(reason) });
    const done = conn.exec('iptables -P FORWARD ACCEPT');
    audit.pending[0]!.reject(new Error('cannot write audit record to /x/audit.jsonl: EIO'));
    await expect(done).rejects.toThrow('cannot write audit record to /x/audit.jsonl: EIO');
    expect(log).toEqual([]);
    expect(stops).toEqual(['cannot write audit record to /x/audit.jsonl: EIO']);
  });
});

/**
 * Write-ahead for apply: a connection whose commands (and the kills a transport sends on its own)
 * go out only once the audit trail's records before them are on disk.
 */
import type { RunControl } from '../engine/index.js';
import type { AuditListener } from '../report/audit-listener.js';
import type { Connection } from '../transport/types.js';

/**
 * Every command's start record is on disk before the command is sent (a kill's too). Waiting for
 * that here, before each exec, lets one fsync cover the records of every host that waits
 * meanwhile, where an fsync inside the listener would stall all hosts once per record.
 */
export function afterAuditFlush(conn: Connection, audit: Pick<AuditListener, 'flush'>, control: Pick<RunControl, 'stop'>): Connection {
  const durable = async (): Promise<void> => {
    try {
      await audit.flush();
    } catch (err) {
      control.stop((err as Error).message, { byOperator: false });
      throw err;
    }
  };
  return {
    host: conn.host,
    async exec(command, options) {
      // The command's start record (emitted just before this call) is on disk before it is sent.
      await durable();
      const onKill = options?.onKill;
      return conn.exec(command, onKill ? { ...options, onKill: { ...onKill, starting: async (kill) => { const id = await onKill.starting(kill); await durable(); return id; } } } : options);
    },
    close: () => conn.close(),
  };
}

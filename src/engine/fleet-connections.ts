/**
 * The transport keeps one connection per host, so a once step's host that is also a target shares
 * its connection with that target's own run, which closes it when its steps are done. Counting
 * references keeps it open until every user (the target's run, the once steps) has closed it.
 */
import type { Connection } from '../transport/types.js';
import type { Connect } from './host-run.js';

export function sharedConnections(connect: Connect): Connect {
  const open = new Map<string, { conn: Promise<Connection>; refs: number }>();
  return async (host) => {
    let entry = open.get(host.name);
    if (!entry) {
      const e = { conn: connect(host), refs: 0 };
      open.set(host.name, (entry = e));
      e.conn.catch(() => open.get(host.name) === e && open.delete(host.name));
    }
    const e = entry;
    e.refs += 1;
    const conn = await e.conn;
    let closed = false;
    return {
      host: conn.host,
      exec: (command, options) => conn.exec(command, options),
      async close() {
        if (closed) return;
        closed = true;
        e.refs -= 1;
        if (e.refs > 0) return;
        if (open.get(host.name) === e) open.delete(host.name);
        await conn.close();
      },
    };
  };
}

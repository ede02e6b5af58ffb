/** OpenSSH ProxyJump syntax: `[user@]host[:port][,[user@]host[:port]...]`, or `none`. */
export interface JumpHop {
  user?: string;
  host: string;
  port?: number;
}

export function parseProxyJump(spec: string): JumpHop[] {
  if (spec.trim() === '' || spec.trim().toLowerCase() === 'none') return [];
  return spec.split(',').map((raw) => {
    let s = raw.trim().replace(/^ssh:\/\//, '');
    let user: string | undefined;
    const at = s.lastIndexOf('@');
    if (at >= 0) {
      user = s.slice(0, at);
      s = s.slice(at + 1);
    }
    let port: number | undefined;
    const m = /^\[(.+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
    if (m) {
      s = m[1]!;
      port = Number(m[2]);
    } else if (s.startsWith('[') && s.endsWith(']')) {
      s = s.slice(1, -1);
    }
    if (!s || (port !== undefined && !(port > 0 && port < 65536))) throw new Error(`invalid ProxyJump hop '${raw}'`);
    return { ...(user ? { user } : {}), host: s, ...(port !== undefined ? { port } : {}) };
  });
}

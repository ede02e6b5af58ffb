/** The transport's public surface: the engine and CLI import from here only. */
import type { Host } from '../model/types.js';
import type { ConnectTarget } from './types.js';

export * from './types.js';
export { createTransport } from './registry.js';
export { DEFAULT_TRANSPORT_OPTIONS } from './ssh-transport.js';
export { LocalConnection } from './local-transport.js';
export type { AskPassphrase } from './identities.js';

/**
 * The ConnectTarget for an inventory host. ssh config (HostName, User, Port, IdentityFile,
 * ProxyJump, ...) is applied at connect time for whatever the inventory leaves unset:
 * `user: ''`, `port: 0`, or `address` equal to the name (what the loader marks as `defaulted`).
 */
export function targetFromHost(host: Host, overrides: { become?: boolean; becomePassword?: string } = {}): ConnectTarget {
  const become = overrides.become ?? host.become;
  const becomePassword = overrides.becomePassword ?? host.becomePassword;
  return {
    name: host.name,
    address: host.address,
    // Values the inventory only defaulted are left open, so ssh config's Port/User can fill them.
    port: host.defaulted?.includes('port') ? 0 : host.port,
    user: host.defaulted?.includes('user') ? '' : host.user,
    connection: host.connection,
    ...(host.identityFile !== undefined ? { identityFile: host.identityFile } : {}),
    ...(host.knownHostsFile !== undefined ? { knownHostsFile: host.knownHostsFile } : {}),
    ...(host.proxyJump !== undefined ? { proxyJump: host.proxyJump } : {}),
    ...(become !== undefined ? { become } : {}),
    ...(becomePassword !== undefined ? { becomePassword } : {}),
    ...(host.becomePasswordError !== undefined ? { becomePasswordError: host.becomePasswordError } : {}),
  };
}

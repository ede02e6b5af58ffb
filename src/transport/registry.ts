/**
 * The transports, one per connection kind (like pyinfra's connectors). A Record over
 * ConnectionKind, so a kind in the model's list without a transport here does not compile.
 *
 * Adding a transport: a file exporting a TransportFactory, the kind's name (and help) in
 * CONNECTION_HELP (src/model/types.ts), and its line below.
 */
import type { ConnectionKind } from '../model/types.js';
import { ConnectError, type Connection, type ConnectTarget, type CreateTransportOptions, type Transport } from './types.js';
import { createSshTransport } from './ssh-transport.js';
import { createLocalTransport } from './local-transport.js';

/** Made at most once per run, on the first target of its kind; gets the run's options. */
export type TransportFactory = (opts: CreateTransportOptions) => Transport;

export const transports: Record<ConnectionKind, TransportFactory> = {
  ssh: createSshTransport,
  local: createLocalTransport,
};

/** The run's Transport: sends each target to the transport of its kind. */
export function createTransport(opts: CreateTransportOptions = {}): Transport {
  const made = new Map<ConnectionKind, Transport>();
  const of = (kind: ConnectionKind): Transport => {
    let t = made.get(kind);
    if (!t) made.set(kind, (t = transports[kind](opts)));
    return t;
  };
  return {
    async connect(target: ConnectTarget): Promise<Connection> {
      if (target.becomePasswordError) {
        throw new ConnectError(target.name, 'config', target.becomePasswordError, 'fix become_password in the inventory, or run with --ask-become-pass');
      }
      return of(target.connection).connect(target);
    },
    async prepare(targets: ConnectTarget[]): Promise<void> {
      // One kind at a time: preparing may ask for passphrases.
      for (const kind of new Set(targets.map((t) => t.connection))) await of(kind).prepare(targets.filter((t) => t.connection === kind));
    },
    async closeAll(): Promise<void> {
      await Promise.all([...made.values()].map((t) => t.closeAll()));
    },
  };
}

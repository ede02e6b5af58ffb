/**
 * The lab's kube-apiserver (its unit runs `node dist/lab/k8s/bin/kube-apiserver.js`), on the
 * control-plane node: https on --bind-address:--secure-port with the certificate `lab up` made,
 * objects from the seed on first start and from --data-file after a restart. Ready (for the lab's
 * systemctl, Type=notify) once it listens.
 * Flags: --bind-address= --secure-port= --tls-cert-file= --tls-private-key-file= --token-file=
 *   --seed-file= --data-file=
 */
import { createServer } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { apiHandler } from '../apiserver.js';
import { Store } from '../store.js';
import { flags } from './flags.js';

const f = flags(process.argv.slice(2), ['bind-address', 'secure-port', 'tls-cert-file', 'tls-private-key-file', 'token-file', 'seed-file', 'data-file']);
const address = `${f['bind-address']}:${f['secure-port']}`;
const store = Store.open(f['data-file'], f['seed-file']);
const server = createServer(
  { cert: readFileSync(f['tls-cert-file']), key: readFileSync(f['tls-private-key-file']) },
  apiHandler({ store, token: readFileSync(f['token-file'], 'utf8').trim(), address }),
);
server.listen(Number(f['secure-port']), f['bind-address'], () => {
  process.stdout.write(`kube-apiserver (lab): serving on https://${address}, resourceVersion ${store.resourceVersion}\n`);
  if (process.env.NOTIFY_FILE) writeFileSync(process.env.NOTIFY_FILE, '');
});

/**
 * runbooks/fix-stale-flannel-lease.yaml on the default profile (flannel 0.9.1, leases through the
 * etcd v2 API, a revoked lease makes flanneld exit 0), fleet-wide (--hosts workers): the
 * article's stale lease (a hijack of d's subnet), MAC drift, a duplicate lease and an orphan,
 * orphans and hijacks that are only "suspect" (a flannel node did not report in this run), and a
 * healthy fleet left untouched. The cases are in runbooks-lease-cases.ts.
 */
import { describe } from 'vitest';
import { useLab } from './runbooks-support.js';
import { leaseCases } from './runbooks-lease-cases.js';

const L = useLab();

describe('fix-stale-flannel-lease (default profile: flannel 0.9.1, etcd v2)', () => {
  leaseCases(L, { full: true });
});

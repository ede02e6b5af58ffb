import { mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkInventory, loadInventory, MASK, resolveInventoryPath, UnavailableSecret, type Host, type Inventory } from '../../src/model/index.js';

const fx = resolve('test/unit/fixtures/model');
const byName = (inv: Inventory, name: string): Host => {
  const h = inv.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
};

describe('native inventory', () => {
  const inv = loadInventory(join(fx, 'native/inventory.yaml'));

  it('resolves connection settings with defaults, relative paths and overrides', () => {
    const a = byName(inv, 'a');
    expect(a).toMatchObject({ address: '192.0.2.1', port: 22, user: 'ops', connection: 'ssh', identityFile: join(fx, 'native/keys/id_ed25519'), knownHostsFile: join(fx, 'native/known_hosts') });
    expect(a.defaulted).toEqual(['port']);
    expect(byName(inv, 'b')).toMatchObject({ port: 2222, user: 'root', become: true });
    expect(byName(inv, 'm1')).toMatchObject({ address: 'm1', connection: 'local', proxyJump: 'a', groups: ['etcd'] });
  });

  it('orders groups general → specific and layers vars defaults < parent < child < host', () => {
    expect(byName(inv, 'a').groups).toEqual(['cluster', 'workers']);
    expect(byName(inv, 'b').groups).toEqual(['cluster', 'gpu', 'workers']);
    expect(byName(inv, 'a').vars.level).toBe('workers');
    expect(byName(inv, 'b').vars.level).toBe('host-b');
    expect(byName(inv, 'm1').vars.level).toBe('defaults');
    expect(byName(inv, 'a').vars.cluster_only).toBe('yes');
    expect(inv.groups.get('cluster')!.hosts).toEqual(['a', 'b']);
  });

  it('marks secret vars and resolves their value', () => {
    const a = byName(inv, 'a');
    expect(a.secretVars).toEqual(['db_password']);
    expect(a.vars.db_password).toBe("s3cr3t'; rm -rf / #");
  });

  it('keeps a secret whose env var is unset loadable but unavailable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-inv-'));
    const file = join(dir, 'inv.yaml');
    writeFileSync(file, 'hosts:\n  a:\n    vars:\n      token: { secret: true, env: RUNBOOK_TEST_UNSET_TOKEN }\n    become_password: { secret: true, file: nope.txt }\n');
    const a = loadInventory(file).hosts[0]!;
    expect(a.vars.token).toBeInstanceOf(UnavailableSecret);
    expect(String(a.vars.token)).toBe(MASK);
    expect((a.vars.token as UnavailableSecret).pos).toEqual({ file, line: 4, col: 14 });
    expect(a.becomePassword).toBeUndefined();
    expect(a.becomePasswordError).toMatch(/cannot read secret file .*nope\.txt/);
  });
});

describe('Ansible INI inventory with group_vars/ and host_vars/', () => {
  const inv = loadInventory(join(fx, 'ansible-ini/hosts'));

  it('reads hosts, ranges, host:port, quoting and comments', () => {
    expect(inv.hosts.map((h) => h.name)).toEqual([
      'mail.example.com',
      'web01.example.com',
      'web02.example.com',
      'web03.example.com',
      'bastion.example.com',
      'db-a.example.com',
      'db-b.example.com',
      'one.example.com',
    ]);
    expect(byName(inv, 'bastion.example.com')).toMatchObject({ address: '203.0.113.9', port: 2222 });
    expect(byName(inv, 'db-a.example.com')).toMatchObject({ address: 'db-a.example.com', port: 5522 });
    expect(byName(inv, 'one.example.com')).toMatchObject({ address: '192.0.2.50' });
    expect(byName(inv, 'one.example.com').vars.note).toBe('two words');
  });

  it('puts hosts in groups, children and ungrouped', () => {
    expect(byName(inv, 'mail.example.com').groups).toEqual(['ungrouped']);
    expect(byName(inv, 'web01.example.com').groups).toEqual(['prod', 'webservers']);
    expect(inv.groups.get('prod')!.hosts).toHaveLength(7);
    expect(inv.groups.get('prod')!.children).toEqual(['webservers', 'dbservers']);
  });

  it('maps ansible_* vars to connection settings at any level', () => {
    expect(byName(inv, 'web01.example.com')).toMatchObject({ user: 'deploy', identityFile: join(homedir(), '.ssh/fleet_ed25519') });
    expect(byName(inv, 'web02.example.com').proxyJump).toBe('bastion.example.com');
    const db = byName(inv, 'db-b.example.com');
    expect(db).toMatchObject({ become: true, becomePassword: 'hunter22pw' });
    expect(db.secretVars).toContain('ansible_become_password');
  });

  it('layers vars as Ansible does: the file\'s group vars < group_vars files (in name order) < host_vars', () => {
    // group_vars/all.yml wins over [prod:vars], as in ansible-inventory (inventory file vars come first).
    expect(byName(inv, 'web01.example.com').vars.ntp_server).toBe('ntp.example.com');
    expect(byName(inv, 'mail.example.com').vars.ntp_server).toBe('ntp.example.com');
    expect(byName(inv, 'web01.example.com').vars.http_port).toBe(8080);
    expect(byName(inv, 'web02.example.com').vars.http_port).toBe(9090);
    expect(byName(inv, 'db-a.example.com').vars.env).toBe('production');
  });

  it('loads vault-encrypted values as unavailable secrets', () => {
    const w = byName(inv, 'web01.example.com');
    expect(w.secretVars).toContain('api_token');
    expect(w.vars.api_token).toBeInstanceOf(UnavailableSecret);
  });
});

describe('Ansible YAML inventory', () => {
  const inv = loadInventory(join(fx, 'ansible-yaml/inventory.yml'));

  it('reads nested children, ranges, vars and the var directories', () => {
    expect(inv.hosts.map((h) => h.name)).toEqual(['standalone', 'master1', 'worker1', 'worker2', 'worker3']);
    expect(byName(inv, 'master1').groups).toEqual(['etcd', 'k8s', 'masters']);
    expect(byName(inv, 'master1')).toMatchObject({ address: '10.0.1.1', user: 'admin' });
    expect(byName(inv, 'master1').vars.role).toBe('master');
    expect(byName(inv, 'worker1').vars).toMatchObject({ role: 'worker', cluster_cidr: '10.100.0.0/16' });
    expect(byName(inv, 'worker2').port).toBe(2202);
    expect(byName(inv, 'standalone').groups).toEqual(['ungrouped']);
  });
});

describe('the shipped inventories', () => {
  it('default.yaml: the incident fleet', () => {
    const inv = loadInventory(resolve('inventory/default.yaml'));
    expect(inv.hosts.map((h) => h.name)).toEqual(['m1', 'a', 'b', 'c', 'd']);
    expect(inv.groups.get('workers')!.hosts).toEqual(['a', 'b', 'c', 'd']);
  });
  it('ansible/hosts.ini is the same fleet', () => {
    const r = checkInventory(resolve('inventory/ansible/hosts.ini'));
    expect(r.problems).toEqual([]);
    expect(r.inventory!.hosts.map((h) => h.address)).toEqual(['198.18.0.10', '198.18.0.11', '198.18.0.12', '198.18.0.13', '198.18.0.14']);
  });
});

describe('resolveInventoryPath', () => {
  it('prefers -i (repeatable), then $RUNBOOK_INVENTORY (`:`-separated), then inventory/default.yaml in cwd', () => {
    expect(resolveInventoryPath({ inventory: 'x.yaml', cwd: '/w', env: { RUNBOOK_INVENTORY: '/e.yaml' } })).toEqual({ paths: ['/w/x.yaml'], source: '-i' });
    expect(resolveInventoryPath({ inventory: ['a', 'b/'], cwd: '/w', env: {} })).toEqual({ paths: ['/w/a', '/w/b'], source: '-i' });
    expect(resolveInventoryPath({ cwd: '/w', env: { RUNBOOK_INVENTORY: 'e.yaml' } })).toEqual({ paths: ['/w/e.yaml'], source: '$RUNBOOK_INVENTORY' });
    expect(resolveInventoryPath({ cwd: '/w', env: { RUNBOOK_INVENTORY: 'one:/two::three' } })).toEqual({ paths: ['/w/one', '/two', '/w/three'], source: '$RUNBOOK_INVENTORY' });
    expect(resolveInventoryPath({ cwd: '/w', env: {} })).toEqual({ paths: ['/w/inventory/default.yaml'], source: 'default' });
  });
  it('a missing inventory says where the path came from', () => {
    expect(() => loadInventory(resolveInventoryPath({ cwd: '/nonexistent', env: {} }))).toThrow(/inventory \/nonexistent\/inventory\/default.yaml not found \(from default\)/);
  });
});

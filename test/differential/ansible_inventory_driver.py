"""Reads many inventories with Ansible's own InventoryManager in one process (python and ansible
start in about a second; one ansible-inventory per inventory would take minutes for the corpus).

stdin: a JSON list of {"id": ..., "sources": [path, ...]}; stdout: a JSON list of
{"id", "error"} or {"id", "hosts": {name: {"groups", "vars"}}, "groups": {name: {"hosts", "children"}}},
where vars are what `ansible-inventory --list` prints in _meta.hostvars.
"""
import json
import os
import sys

# Every source must parse, as runbook requires: a failure is an error here, not a warning.
os.environ.setdefault('ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED', 'true')

from ansible.cli.inventory import INTERNAL_VARS  # noqa: E402
from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402

MAGIC = {'inventory_hostname', 'inventory_hostname_short', 'group_names', 'groups', 'omit', 'playbook_dir',
         'inventory_file', 'inventory_dir', 'ansible_version', 'ansible_check_mode'} | set(INTERNAL_VARS)


def plain(v):
    if isinstance(v, dict):
        return {str(k) if not isinstance(k, bool) else str(k).lower(): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return [plain(x) for x in v]
    if v is None or isinstance(v, (bool, int, float)):
        return v
    if type(v).__name__ == 'AnsibleVaultEncryptedUnicode':
        return {'__vault__': True}
    return str(v)


def read(case):
    loader = DataLoader()
    inv = InventoryManager(loader=loader, sources=case['sources'])
    vm = VariableManager(loader=loader, inventory=inv)
    hosts = {}
    for h in inv.get_hosts():
        v = vm.get_vars(host=h, include_hostvars=False, stage='all')
        hosts[h.name] = {
            'groups': sorted(g.name for g in h.get_groups() if g.name != 'all'),
            'vars': {k: plain(x) for k, x in v.items() if k not in MAGIC},
        }
    groups = {
        g.name: {'hosts': sorted(h.name for h in g.get_hosts()), 'children': sorted(c.name for c in g.child_groups)}
        for g in inv.groups.values()
    }
    return {'id': case['id'], 'hosts': hosts, 'groups': groups}


out = []
for case in json.load(sys.stdin):
    try:
        out.append(read(case))
    except Exception as e:  # any failure to read is the answer for this case
        out.append({'id': case['id'], 'error': str(e).splitlines()[0] if str(e) else type(e).__name__})
json.dump(out, sys.stdout)

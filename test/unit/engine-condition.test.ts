import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConditionError, ConditionSyntaxError, conditionRefs, evaluateCondition, parseCondition } from '../../src/model/condition.js';
import { buildTemplateContext, checkRunbookText, loadInventory } from '../../src/model/index.js';
import { templateBindings } from '../../src/engine/bindings.js';

const vars: Record<string, unknown> = {
  count: '3',
  leases: { count: 2, items: [{ ip: '198.19.1.20' }, { ip: '198.19.1.21' }], names: ['a', 'b'] },
  mac: 'aa:bb',
  empty: '',
  flag: true,
  hosts: { d: { mac: 'aa:bb' } },
};

function lookup(path: string[]): unknown {
  let v: unknown = vars;
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || !(seg in v)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

const ev = (text: string, changed: string[] = []) => evaluateCondition(parseCondition(text), { lookup, changed: (s) => changed.includes(s) });

describe('when: conditions', () => {
  it('compares registered values numerically when both sides are numbers, else as text', () => {
    expect(ev('count == 3')).toBe(true);
    expect(ev('count > 2 and count < 4')).toBe(true);
    expect(ev('count >= 4')).toBe(false);
    expect(ev('leases.count != 2')).toBe(false);
    expect(ev("mac == 'aa:bb'")).toBe(true);
    expect(ev('mac == hosts.d.mac')).toBe(true);
    expect(ev('"10" > "9"')).toBe(true);
    expect(ev("'b' > 'a'")).toBe(true);
    expect(ev('-1 < 0')).toBe(true);
  });

  it('reads dotted paths and list indices', () => {
    expect(ev("leases.items.1.ip == '198.19.1.21'")).toBe(true);
    expect(ev("'a' in leases.names and 'c' not in leases.names")).toBe(true);
    expect(ev("'count' in leases")).toBe(true);
    expect(ev("'bb' in mac")).toBe(true);
    expect(ev('count in [1, 2, 3]')).toBe(true);
  });

  it('and binds tighter than or; not and parentheses', () => {
    expect(ev('flag or count == 9 and empty')).toBe(true);
    expect(ev('(flag or count == 9) and empty')).toBe(false);
    expect(ev('not empty')).toBe(true);
    expect(ev('not not flag')).toBe(true);
  });

  it('changed(), defined() and len()', () => {
    expect(ev('changed("restart flanneld")', ['restart flanneld'])).toBe(true);
    expect(ev('changed("restart flanneld")')).toBe(false);
    expect(ev('defined(leases.count) and not defined(nope.x)')).toBe(true);
    expect(ev('len(leases.items) == 2 and len(mac) == 5')).toBe(true);
  });

  it('an undefined name or a senseless comparison is an evaluation error, never false', () => {
    expect(() => ev('nope == 1')).toThrow(ConditionError);
    expect(() => ev('nope == 1')).toThrow(/"nope" is not defined/);
    expect(() => ev('leases < 3')).toThrow(/cannot order/);
    expect(() => ev('1 in 3')).toThrow(/"in" needs a list/);
  });

  it("looks names up as own properties through the run's real lookup: toString is an undefined name", () => {
    const runbook = checkRunbookText('vars: { count: 3 }\nsteps:\n  - name: s\n    check: "true"\n', '/rb/rb.yaml').runbook!;
    const dir = mkdtempSync(join(tmpdir(), 'rb-cond-'));
    writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  a: { address: 127.0.0.1 }\n');
    const inventory = loadInventory(join(dir, 'inv.yaml'));
    rmSync(dir, { recursive: true, force: true });
    const host = inventory.hosts[0]!;
    const bindings = templateBindings((h) => buildTemplateContext({ runbook, inventory, host: h }), { runbook, inventory, cliVars: {} });
    const scope = { lookup: (path: string[]) => bindings.lookup(host, path, { own: {}, byHost: new Map(), targets: ['a'] }), changed: () => false };
    const evalReal = (text: string) => evaluateCondition(parseCondition(text), scope);
    expect(evalReal('count == 3')).toBe(true);
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'count.toString', 'host.constructor']) {
      expect(() => evalReal(`${name} == 1`), name).toThrow(ConditionError);
      expect(() => evalReal(`${name} == 1`), name).toThrow(`"${name}" is not defined (use defined(${name}) to test for it)`);
      expect(evalReal(`defined(${name})`), name).toBe(false);
    }
  });

  it('syntax errors name the column; nothing is ever evaluated as code', () => {
    const bad: Array<[string, RegExp]> = [
      ['count = 3', /use "==" to compare.*|column 7/],
      ['count ==', /expected a value.*end of the condition/],
      ['(count == 3', /expected "\)"/],
      ['process.exit(1)', /unknown function "exit"|expected/],
      ['require("fs")', /unknown function "require"/],
      ['count == 3 junk', /expected "and", "or"/],
      ['"unterminated', /unterminated string/],
      ['a; rm -rf /', /unexpected ";" at column 2/],
      ['', /empty condition/],
    ];
    for (const [text, re] of bad) {
      expect(() => parseCondition(text), text).toThrow(ConditionSyntaxError);
      expect(() => parseCondition(text), text).toThrow(re);
    }
  });

  it('lists what a condition reads, for ordering and dry-run dependencies', () => {
    const refs = conditionRefs(parseCondition('hosts.d.mac == mac and changed("x") or defined(leases.count)'));
    expect(refs.paths).toEqual([['hosts', 'd', 'mac'], ['mac'], ['leases', 'count']]);
    expect(refs.defined).toEqual([['leases', 'count']]);
    expect(refs.changed).toEqual(['x']);
  });
});

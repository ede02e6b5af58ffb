import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInventory, selectHosts, splitPattern, UserError } from '../../src/model/index.js';

// Fleet (fixtures/model/patterns.yaml): m1 (etcd), a b c d (workers), both in cluster; node-1 node-2 (edge); x (masters); group empty.
const inv = loadInventory(resolve('test/unit/fixtures/model/patterns.yaml'));
const names = (p: string, namedSets?: Record<string, string[]>) => selectHosts(inv, p, { namedSets }).map((h) => h.name).join(' ');

describe('host patterns (Ansible semantics)', () => {
  it.each([
    ['all', 'm1 a b c d node-1 node-2 x'],
    ['*', 'm1 a b c d node-1 node-2 x'],
    ['d', 'd'],
    ['workers', 'a b c d'],
    ['a,b', 'a b'],
    ['a:b', 'a b'],
    [' a , c ', 'a c'],
    ['node-*', 'node-1 node-2'],
    ['node-?', 'node-1 node-2'],
    ['node-[1]', 'node-1'],
    ['~^node-\\d$', 'node-1 node-2'],
    ['work*', 'a b c d'], // globs match group names too
    ['workers,!d', 'a b c'],
    ['!d', 'm1 a b c node-1 node-2 x'], // only exclusions: start from all
    ['cluster,&workers', 'a b c d'],
    ['all,&masters', 'x'],
    ['workers,masters,&cluster', 'a b c d'],
    // Order in the pattern does not matter: union first, then intersections, then exclusions.
    ['!d,workers', 'a b c'],
    ['&workers,cluster,!a', 'b c d'],
    ['workers,!node-*,!c', 'a b d'],
    ['d,a', 'a d'], // inventory order, not pattern order
    ['@failed', 'b d'],
    ['@failed,&workers,!d', 'b'],
    ['all,!@failed', 'm1 a c node-1 node-2 x'],
  ])('%s → %s', (pattern, expected) => {
    expect(names(pattern, { failed: ['b', 'd', 'gone'] })).toBe(expected);
  });

  it.each([
    ['dd', /host pattern "dd" matches no host or group in .*patterns.yaml \(did you mean "d"\?\)/],
    ['wrkers', /"wrkers" matches no host .*did you mean "workers"/],
    ['nope-*', /"nope-\*" matches no host/],
    ['a,!zz', /"zz" matches no host/],
    ['empty', /group "empty" has no hosts/],
    ['@failed', /unknown host set "@failed" \(no named host sets are available here\)/],
    ['d,&masters', /host pattern "d,&masters" selects no hosts/],
    ['workers,!c*', /selects no hosts/], // c* also matches the group cluster
    ['', /empty host pattern/],
    ['~(', /bad regex in host pattern/],
  ])('%s is an error', (pattern, message) => {
    expect(() => selectHosts(inv, pattern)).toThrow(UserError);
    expect(() => selectHosts(inv, pattern)).toThrow(message);
  });

  it('reports every unknown term at once', () => {
    try {
      selectHosts(inv, 'dd,ee,!ff');
      expect.unreachable();
    } catch (e) {
      expect((e as UserError).problems.map((p) => p.message)).toEqual([
        expect.stringContaining('"dd"'),
        expect.stringContaining('"ee"'),
        expect.stringContaining('"ff"'),
      ]);
    }
  });

  it('splits on commas, else colons', () => {
    expect(splitPattern('a:b,c')).toEqual(['a:b', 'c']);
    expect(splitPattern('a:!b')).toEqual(['a', '!b']);
  });
});

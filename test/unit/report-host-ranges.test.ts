import { describe, expect, it } from 'vitest';
import { hostRanges } from '../../src/report/host-ranges.js';

describe('hostRanges', () => {
  it('folds runs of three or more numbered names, keeping order, padding and everything else', () => {
    expect(hostRanges(Array.from({ length: 100 }, (_, i) => `pf${i + 1}`))).toBe('pf[1:100]');
    expect(hostRanges(['web01', 'web02', 'web03', 'web10'])).toBe('web[01:03], web10');
    expect(hostRanges(['a', 'b', 'c', 'd'])).toBe('a, b, c, d');
    expect(hostRanges(['n1', 'n2', 'm3', 'n4', 'n5', 'n6'])).toBe('n1, n2, m3, n[4:6]');
    expect(hostRanges(['n9', 'n10', 'n11'])).toBe('n[9:11]');
    expect(hostRanges(['n1', 'n01', 'n2'])).toBe('n1, n01, n2');
    expect(hostRanges(['web0', 'web1', 'web2'])).toBe('web[0:2]');
    expect(hostRanges([])).toBe('');
  });
});

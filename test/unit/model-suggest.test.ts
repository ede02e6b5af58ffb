import { describe, expect, it } from 'vitest';
import { closeMatches, didYouMean, editDistance } from '../../src/model/suggest.js';

describe('did-you-mean', () => {
  it.each([
    ['', '', 0],
    ['port', 'port', 0],
    ['prot', 'port', 1],
    ['chek', 'check', 1],
    ['kitten', 'sitting', 3],
  ])('editDistance(%j, %j) = %i', (a, b, d) => expect(editDistance(a, b)).toBe(d));

  it('suggests close names, best first, and nothing for distant ones', () => {
    expect(closeMatches('workrs', ['workers', 'etcd', 'cluster'])).toEqual(['workers']);
    expect(closeMatches('fix-fwd', ['fix-forwarding'])).toEqual([]);
    expect(closeMatches('fix', ['fix-forwarding', 'fix-flannel-docker-order', 'check'])).toEqual(['fix-flannel-docker-order', 'fix-forwarding']);
    expect(didYouMean('zzzz', ['a', 'b'])).toBeUndefined();
    expect(didYouMean('restrat', ['restart', 'reset'])).toBe('did you mean "restart"?');
    expect(didYouMean('node', ['node-1', 'node-2', 'nodes'])).toBe('did you mean "node-1", "node-2" or "nodes"?');
  });
});

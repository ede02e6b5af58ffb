import { describe, expect, it } from 'vitest';
import { textTable } from '../../src/report/text-table.js';

describe('textTable', () => {
  it('pads each column to its widest cell, two spaces apart, left-aligned by default, no trailing spaces', () => {
    expect(textTable([['NAME', 'SOURCE', 'DESCRIPTION'], ['a-long-name', 'x', ''], ['b', 'built-in', 'text']])).toBe(
      ['NAME         SOURCE    DESCRIPTION', 'a-long-name  x', 'b            built-in  text'].join('\n'),
    );
  });

  it('right-aligns the columns `align` names', () => {
    expect(textTable([['host', 'ok', 'failed'], ['a', '12', '0'], ['bb', '3', '1']], ['left', 'right', 'right'])).toBe(
      ['host  ok  failed', 'a     12       0', 'bb     3       1'].join('\n'),
    );
  });

  it('lays out more rows than a spread argument list holds', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => [String(i), 'x']);
    expect(textTable(rows).split('\n').at(-1)).toBe('199999  x');
  });
});

/** Plain-text tables for the terminal: the one column layout every text listing shares. */

export type Align = 'left' | 'right';

/** Rows as columns two spaces apart, each as wide as its widest cell, aligned per `align` (default left), trailing spaces trimmed. */
export function textTable(rows: readonly (readonly string[])[], align: readonly Align[] = []): string {
  // A loop, not Math.max(...cells): a long history would overflow the argument list.
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, c) => (widths[c] = Math.max(widths[c] ?? 0, cell.length)));
  return rows
    .map((r) => r.map((cell, c) => (align[c] === 'right' ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd())
    .join('\n');
}

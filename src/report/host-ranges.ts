/**
 * A host list for reading, not for typing back: runs of three or more names that differ only in a
 * trailing number become Ansible's range form (`pf[1:100]`, `web[01:12]` keeping the zero padding),
 * in the order given. A 500-host plan then names its hosts in one short line.
 */
export function hostRanges(names: readonly string[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < names.length) {
    const m = /^(.*?)(\d+)$/.exec(names[i]!);
    let j = i + 1;
    if (m) {
      const prefix = m[1]!;
      const digits = m[2]!;
      const width = digits.startsWith('0') ? digits.length : 0;
      const next = (k: number, n: number): boolean => {
        const x = /^(.*?)(\d+)$/.exec(names[k] ?? '');
        return x !== null && x[1] === prefix && Number(x[2]) === n && (width ? x[2]!.length === width : !x[2]!.startsWith('0'));
      };
      while (j < names.length && next(j, Number(digits) + (j - i))) j++;
      if (j - i >= 3) {
        const last = String(Number(digits) + (j - i - 1)).padStart(width, '0');
        out.push(`${prefix}[${digits}:${last}]`);
        i = j;
        continue;
      }
    }
    out.push(names[i]!);
    i += 1;
  }
  return out.join(', ');
}

/**
 * A host list for reading, not for typing back: runs of three or more names that differ only in a
 * trailing number become Ansible's range form (`pf[1:100]`, `web[01:12]` keeping the zero padding),
 * in the order given. A 500-host plan then names its hosts in one short line.
 */
export function hostRanges(names: readonly string[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < names.length) {
    // Up to 15 digits: beyond that a Number no longer counts exactly.
    const m = /^(.*?)(\d{1,15})$/.exec(names[i]!);
    let j = i + 1;
    if (m) {
      const prefix = m[1]!;
      const digits = m[2]!;
      const width = digits.length > 1 && digits.startsWith('0') ? digits.length : 0;
      const next = (k: number, n: number): boolean => {
        const x = /^(.*?)(\d{1,15})$/.exec(names[k] ?? '');
        return x !== null && x[1] === prefix && Number(x[2]) === n && (width ? x[2]!.length === width : x[2] === String(n));
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

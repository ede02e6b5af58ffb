/** `--name=value` flags of the lab's Node daemons; a missing one is a one-line error and exit 2. */
export function flags<K extends string>(argv: readonly string[], names: readonly K[]): Record<K, string> {
  const out: Partial<Record<K, string>> = {};
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/s.exec(a);
    const name = names.find((n) => n === m?.[1]);
    if (!m || !name) {
      process.stderr.write(`unknown argument ${a} (flags: ${names.map((n) => `--${n}=`).join(' ')})\n`);
      process.exit(2);
    }
    out[name] = m[2];
  }
  const missing = names.filter((n) => out[n] === undefined);
  if (missing.length > 0) {
    process.stderr.write(`missing flag --${missing[0]}= (flags: ${names.map((n) => `--${n}=`).join(' ')})\n`);
    process.exit(2);
  }
  return out as Record<K, string>;
}

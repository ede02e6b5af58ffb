/** POSIX single-quote quoting: safe for any byte string as one shell word. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

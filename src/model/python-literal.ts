/**
 * The two pieces of Python that Ansible's INI inventory plugin applies to its text, so that runbook
 * reads an INI inventory to the same values: `shlex.split(line, comments=True)` for host lines and
 * `ast.literal_eval` for every value (ansible/plugins/inventory/ini.py, `_parse_value`).
 */

/** A word of a host line and the column (1-based) where it starts. */
export interface Word {
  word: string;
  col: number;
}

/**
 * shlex.split(line, comments=True) in POSIX mode: whitespace separates words, quotes group
 * (backslash escapes only `\` and `"` inside double quotes, nothing inside single quotes), a
 * backslash outside quotes escapes the next character, and `#` outside quotes ends the line,
 * even in the middle of a word (`a#b` is `a`), as shlex does.
 */
export function shlexSplit(line: string): Word[] | { error: string; col: number } {
  const words: Word[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length || line[i] === '#') break;
    const col = i + 1;
    let word = '';
    let ended = false;
    while (i < line.length && !/\s/.test(line[i]!)) {
      const c = line[i]!;
      if (c === '#') {
        ended = true;
        break;
      }
      if (c === '\\') {
        if (i + 1 >= line.length) return { error: 'no escaped character after the final backslash', col: i + 1 };
        word += line[i + 1];
        i += 2;
      } else if (c === "'" || c === '"') {
        const start = i;
        i++;
        while (i < line.length && line[i] !== c) {
          if (c === '"' && line[i] === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) i++;
          word += line[i++];
        }
        if (i >= line.length) return { error: `no closing quotation for the ${c} at column ${start + 1}`, col: start + 1 };
        i++;
      } else word += line[i++];
    }
    words.push({ word, col });
    if (ended) break;
  }
  return words;
}

class NotLiteral extends Error {}

const SIMPLE_ESCAPES: Record<string, string> = { '\n': '', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** Parses the Python literal grammar ast.literal_eval accepts; throws NotLiteral on anything else. */
class LiteralParser {
  private i = 0;
  constructor(private readonly s: string) {}

  parse(): unknown {
    const v = this.tupleOrExpr(true);
    this.skip();
    if (this.i < this.s.length) throw new NotLiteral();
    return v;
  }

  private skip(): void {
    for (;;) {
      while (this.i < this.s.length && ' \t\f'.includes(this.s[this.i]!)) this.i++;
      if (this.s[this.i] !== '#') return;
      this.i = this.s.length;
    }
  }

  private peek(): string | undefined {
    this.skip();
    return this.s[this.i];
  }

  private eat(c: string): boolean {
    if (this.peek() !== c) return false;
    this.i++;
    return true;
  }

  /** `a, b` is a tuple (a list in JSON), as at the top level and inside parentheses. */
  private tupleOrExpr(top: boolean): unknown {
    const first = this.value();
    if (this.peek() !== ',') return first;
    const items = [first];
    while (this.eat(',')) {
      const c = this.peek();
      if (c === undefined || (!top && c === ')')) break;
      items.push(this.value());
    }
    return items;
  }

  private seq(close: string): unknown[] {
    const items: unknown[] = [];
    while (!this.eat(close)) {
      items.push(this.value());
      if (!this.eat(',') && this.peek() !== close) throw new NotLiteral();
    }
    return items;
  }

  private value(): unknown {
    const c = this.peek();
    if (c === undefined) throw new NotLiteral();
    if (c === '[') return (this.i++, this.seq(']'));
    if (c === '(') {
      this.i++;
      if (this.eat(')')) return [];
      const v = this.tupleOrExpr(false);
      if (!this.eat(')')) throw new NotLiteral();
      return v;
    }
    if (c === '{') return this.braces();
    if (c === '+' || c === '-') {
      this.i++;
      const n = this.number();
      return c === '-' ? -n : n;
    }
    if (/[0-9.]/.test(c)) return this.number();
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.s.slice(this.i))?.[0];
    if (name !== undefined && /^(?:[rRuUbB]|[rR][bB]|[bB][rR])$/.test(name) && (this.s[this.i + name.length] === "'" || this.s[this.i + name.length] === '"')) return this.strings();
    if (c === "'" || c === '"') return this.strings();
    if (name === 'True' || name === 'False' || name === 'None') {
      this.i += name.length;
      return name === 'True' ? true : name === 'False' ? false : null;
    }
    throw new NotLiteral();
  }

  /** `{}` is a dict; `{a, b}` a set (a list in JSON); `{k: v}` a dict with keys as JSON writes them. */
  private braces(): unknown {
    this.i++;
    if (this.eat('}')) return {};
    const first = this.value();
    if (this.eat(':')) {
      const out: Record<string, unknown> = {};
      let key = first;
      for (;;) {
        out[dictKey(key)] = this.value();
        if (!this.eat(',') || this.peek() === '}') break;
        key = this.value();
        if (!this.eat(':')) throw new NotLiteral();
      }
      if (!this.eat('}')) throw new NotLiteral();
      return out;
    }
    const items = [first];
    while (this.eat(',') && this.peek() !== '}') items.push(this.value());
    if (!this.eat('}')) throw new NotLiteral();
    return items;
  }

  private number(): number {
    this.skip();
    const rest = this.s.slice(this.i);
    const m =
      /^0[xX](?:_?[0-9a-fA-F])+|^0[oO](?:_?[0-7])+|^0[bB](?:_?[01])+/.exec(rest) ??
      /^(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][+-]?\d(?:_?\d)*)?/.exec(rest);
    if (!m) throw new NotLiteral();
    const text = m[0].replaceAll('_', '');
    const after = this.s[this.i + m[0].length];
    // Imaginary numbers have no JSON form; names glued to a number are a syntax error in Python.
    if (after !== undefined && /[A-Za-z0-9_.]/.test(after)) throw new NotLiteral();
    this.i += m[0].length;
    if (/^0[xX]/.test(text)) return parseInt(text.slice(2), 16);
    if (/^0[oO]/.test(text)) return parseInt(text.slice(2), 8);
    if (/^0[bB]/.test(text)) return parseInt(text.slice(2), 2);
    // Python refuses leading zeros in a decimal integer (`010`), except for zero itself (`00`).
    if (/^0\d*$/.test(text) && /[1-9]/.test(text)) throw new NotLiteral();
    return Number(text);
  }

  /** One or more adjacent string literals, concatenated as Python does. */
  private strings(): string {
    let out = '';
    let kind: 'str' | 'bytes' | undefined;
    for (;;) {
      this.skip();
      const m = /^([rRuUbB]{0,2})('''|"""|'|")/.exec(this.s.slice(this.i));
      if (!m) break;
      const prefix = m[1]!.toLowerCase();
      const k = prefix.includes('b') ? 'bytes' : 'str';
      if (kind !== undefined && kind !== k) throw new NotLiteral();
      kind = k;
      const quote = m[2]!;
      this.i += m[0].length;
      const raw = prefix.includes('r');
      for (;;) {
        if (this.i >= this.s.length) throw new NotLiteral();
        if (this.s.startsWith(quote, this.i)) {
          this.i += quote.length;
          break;
        }
        const c = this.s[this.i++]!;
        if (c !== '\\') {
          out += c;
          continue;
        }
        const e = this.s[this.i];
        if (e === undefined) throw new NotLiteral();
        if (raw) {
          out += c + e;
          this.i++;
          continue;
        }
        out += this.escape(e, k);
      }
    }
    if (kind === undefined) throw new NotLiteral();
    return out;
  }

  private escape(e: string, kind: 'str' | 'bytes'): string {
    this.i++;
    if (e in SIMPLE_ESCAPES) return SIMPLE_ESCAPES[e]!;
    const hex = (n: number): string => {
      const h = this.s.slice(this.i, this.i + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) throw new NotLiteral();
      this.i += n;
      const cp = parseInt(h, 16);
      if (cp > 0x10ffff) throw new NotLiteral();
      return String.fromCodePoint(cp);
    };
    if (e === 'x') return hex(2);
    if (kind === 'str' && e === 'u') return hex(4);
    if (kind === 'str' && e === 'U') return hex(8);
    if (/[0-7]/.test(e)) {
      const oct = /^[0-7]{0,2}/.exec(this.s.slice(this.i))![0];
      this.i += oct.length;
      return String.fromCodePoint(parseInt(e + oct, 8));
    }
    // \N{NAME} needs Unicode's name table; an unknown escape keeps its backslash, as in Python.
    if (e === 'N' && kind === 'str') throw new NotLiteral();
    return '\\' + e;
  }
}

/** A dict key as Python's json.dumps writes it: strings as is, numbers and constants as text. */
function dictKey(k: unknown): string {
  if (typeof k === 'string') return k;
  if (k === true) return 'true';
  if (k === false) return 'false';
  if (k === null) return 'null';
  if (typeof k === 'number') return Number.isInteger(k) ? String(k) : pythonFloat(k);
  throw new NotLiteral();
}

/** Python's repr of a float (json.dumps writes keys this way): `1.0`, not `1`. */
function pythonFloat(n: number): string {
  return Number.isInteger(n) && Math.abs(n) < 1e16 ? `${n}.0` : String(n);
}

/**
 * An INI value as Ansible reads it: `ast.literal_eval` of the text, or the text itself when it is
 * no Python literal (a bare word, `yes`, `true`, `a b`). Tuples and sets become lists, as in JSON.
 */
export function iniValue(text: string): unknown {
  try {
    return new LiteralParser(text.replace(/^[ \t]+/, '')).parse();
  } catch (err) {
    if (err instanceof NotLiteral) return text;
    throw err;
  }
}

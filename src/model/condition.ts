/**
 * `when:` conditions, parsed by hand and evaluated on the controller (never eval, never the shell).
 *
 *   expr    := or
 *   or      := and ('or' and)*
 *   and     := not ('and' not)*
 *   not     := 'not' not | compare
 *   compare := operand (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in') operand)?
 *   operand := number | 'str' | "str" | true | false | null | [expr, ...] | path | call | '(' expr ')'
 *   path    := name ('.' (name | digits))*          e.g. leases.count, hosts.d.flannel_mac, ips.0
 *   call    := changed("step name") | defined(path) | len(expr)
 *
 * Values come from a resolver (vars, registered values, host.*, hosts.<name>.<var>), so the same
 * names work here as in `{{ }}`. Comparisons are numeric when both sides look like numbers
 * (registered stdout is text), else textual; `in` tests list membership, a map's key, or a substring.
 */

export type ConditionNode =
  | { kind: 'literal'; value: unknown }
  | { kind: 'list'; items: ConditionNode[] }
  | { kind: 'path'; path: string[] }
  | { kind: 'changed'; step: string }
  | { kind: 'defined'; path: string[] }
  | { kind: 'len'; arg: ConditionNode }
  | { kind: 'not'; arg: ConditionNode }
  | { kind: 'and' | 'or'; left: ConditionNode; right: ConditionNode }
  | { kind: 'compare'; op: CompareOp; left: ConditionNode; right: ConditionNode };

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in';

/** A syntax error at a 0-based offset in the condition text. */
export class ConditionSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** A condition that parsed but cannot be evaluated (an undefined name, a bad comparison). */
export class ConditionError extends Error {}

type Token =
  | { t: 'num'; v: number; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'name'; v: string; at: number }
  | { t: 'op'; v: string; at: number }
  | { t: 'end'; at: number };

const OPS = ['==', '!=', '<=', '>=', '<', '>', '(', ')', '[', ']', ',', '.'];

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === '"' || c === "'") {
      let s = '';
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        s += text[i];
        i++;
      }
      if (i >= text.length) throw new ConditionSyntaxError(`unterminated string starting at column ${at + 1}`, at);
      i++;
      out.push({ t: 'str', v: s, at });
      continue;
    }
    const num = /^-?\d+(\.\d+)?/.exec(text.slice(i));
    // A '-' only starts a number where an operand is expected (there is no subtraction).
    if (num && (c !== '-' || out.length === 0 || out.at(-1)!.t === 'op')) {
      out.push({ t: 'num', v: Number(num[0]), at });
      i += num[0].length;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(text.slice(i));
    if (name) {
      out.push({ t: 'name', v: name[0], at });
      i += name[0].length;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (op) {
      out.push({ t: 'op', v: op, at });
      i += op.length;
      continue;
    }
    if (c === '=') throw new ConditionSyntaxError(`"=" at column ${at + 1}: use "==" to compare`, at);
    throw new ConditionSyntaxError(`unexpected "${c}" at column ${at + 1}`, at);
  }
  out.push({ t: 'end', at: text.length });
  return out;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'true', 'false', 'null']);

/** Parses a condition; throws ConditionSyntaxError naming the column. */
export function parseCondition(text: string): ConditionNode {
  const toks = tokenize(text);
  let p = 0;
  const peek = (): Token => toks[p]!;
  const isOp = (v: string): boolean => {
    const t = peek();
    return t.t === 'op' && t.v === v;
  };
  const isWord = (v: string, at = p): boolean => {
    const t = toks[at]!;
    return t.t === 'name' && t.v === v;
  };
  const describe = (t: Token): string => (t.t === 'end' ? 'the end of the condition' : `"${t.t === 'str' ? JSON.stringify(t.v) : String(t.v)}" at column ${t.at + 1}`);
  const fail = (what: string): never => {
    const t = peek();
    throw new ConditionSyntaxError(`expected ${what}, found ${describe(t)}`, t.at);
  };
  const expectOp = (v: string): void => {
    if (!isOp(v)) fail(`"${v}"`);
    p++;
  };

  function path(first: string): string[] {
    const segs = [first];
    while (isOp('.')) {
      p++;
      const t = peek();
      if (t.t === 'name') segs.push(t.v);
      else if (t.t === 'num' && Number.isInteger(t.v) && t.v >= 0) segs.push(String(t.v));
      else fail('a name or an index after "."');
      p++;
    }
    return segs;
  }

  function operand(): ConditionNode {
    const t = peek();
    if (t.t === 'num' || t.t === 'str') {
      p++;
      return { kind: 'literal', value: t.v };
    }
    if (t.t === 'op' && t.v === '(') {
      p++;
      const e = or();
      expectOp(')');
      return e;
    }
    if (t.t === 'op' && t.v === '[') {
      p++;
      const items: ConditionNode[] = [];
      while (!isOp(']')) {
        items.push(or());
        if (!isOp(']')) expectOp(',');
      }
      p++;
      return { kind: 'list', items };
    }
    if (t.t !== 'name') return fail('a value, a name or "("');
    p++;
    if (t.v === 'true' || t.v === 'false') return { kind: 'literal', value: t.v === 'true' };
    if (t.v === 'null') return { kind: 'literal', value: null };
    if (KEYWORDS.has(t.v)) return fail('a value');
    if (isOp('(')) {
      p++;
      let node: ConditionNode;
      if (t.v === 'changed') {
        const s = peek();
        if (s.t !== 'str') return fail('a quoted step name in changed("...")');
        p++;
        node = { kind: 'changed', step: s.v };
      } else if (t.v === 'defined') {
        const n = peek();
        if (n.t !== 'name') return fail('a name in defined(...)');
        p++;
        node = { kind: 'defined', path: path(n.v) };
      } else if (t.v === 'len') {
        node = { kind: 'len', arg: or() };
      } else {
        throw new ConditionSyntaxError(`unknown function "${t.v}" at column ${t.at + 1}; functions are changed("step"), defined(name), len(value)`, t.at);
      }
      expectOp(')');
      return node;
    }
    return { kind: 'path', path: path(t.v) };
  }

  function compare(): ConditionNode {
    const left = operand();
    const t = peek();
    let op: CompareOp | undefined;
    if (t.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) op = t.v as CompareOp;
    else if (isWord('in')) op = 'in';
    else if (isWord('not') && isWord('in', p + 1)) op = 'not in';
    if (!op) return left;
    p += op === 'not in' ? 2 : 1;
    return { kind: 'compare', op, left, right: operand() };
  }

  function not(): ConditionNode {
    if (isWord('not')) {
      p++;
      return { kind: 'not', arg: not() };
    }
    return compare();
  }

  function and(): ConditionNode {
    let left = not();
    while (isWord('and')) {
      p++;
      left = { kind: 'and', left, right: not() };
    }
    return left;
  }

  function or(): ConditionNode {
    let left = and();
    while (isWord('or')) {
      p++;
      left = { kind: 'or', left, right: and() };
    }
    return left;
  }

  if (peek().t === 'end') throw new ConditionSyntaxError('empty condition', 0);
  const node = or();
  if (peek().t !== 'end') fail('"and", "or" or the end of the condition');
  return node;
}

/** Everything a condition reads, so the engine can order it (barriers) and spot pending values. */
export interface ConditionRefs {
  paths: string[][];
  /** The paths tested with defined(...) (also in `paths`): they may be undefined. */
  defined: string[][];
  changed: string[];
}

export function conditionRefs(node: ConditionNode): ConditionRefs {
  const refs: ConditionRefs = { paths: [], defined: [], changed: [] };
  const visit = (n: ConditionNode): void => {
    switch (n.kind) {
      case 'defined':
        refs.defined.push(n.path);
        refs.paths.push(n.path);
        break;
      case 'path':
        refs.paths.push(n.path);
        break;
      case 'changed':
        refs.changed.push(n.step);
        break;
      case 'list':
        n.items.forEach(visit);
        break;
      case 'len':
      case 'not':
        visit(n.arg);
        break;
      case 'and':
      case 'or':
      case 'compare':
        visit(n.left);
        visit(n.right);
        break;
      case 'literal':
        break;
    }
  };
  visit(node);
  return refs;
}

export interface ConditionScope {
  /** The value at a dotted path, or `undefined` when there is none. */
  lookup(path: string[]): unknown;
  /** Whether the named step changed something (fixed) for this host. */
  changed(step: string): boolean;
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v)) return Number(v);
  return undefined;
}

function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false) return false;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.trim() !== '' && v.trim() !== '0' && v.trim().toLowerCase() !== 'false';
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function equal(a: unknown, b: unknown): boolean {
  const na = asNumber(a);
  const nb = asNumber(b);
  if (na !== undefined && nb !== undefined) return na === nb;
  if ((a !== null && typeof a === 'object') || (b !== null && typeof b === 'object')) return JSON.stringify(a) === JSON.stringify(b);
  // Text otherwise: true == "true", null == "".
  return asText(a) === asText(b);
}

function order(a: unknown, b: unknown, op: CompareOp): boolean {
  const na = asNumber(a);
  const nb = asNumber(b);
  let cmp: number;
  if (na !== undefined && nb !== undefined) cmp = na - nb;
  else if (typeof a === 'string' && typeof b === 'string') cmp = a < b ? -1 : a > b ? 1 : 0;
  else throw new ConditionError(`cannot order ${JSON.stringify(a)} and ${JSON.stringify(b)} with "${op}"`);
  return op === '<' ? cmp < 0 : op === '<=' ? cmp <= 0 : op === '>' ? cmp > 0 : cmp >= 0;
}

function contains(container: unknown, item: unknown): boolean {
  if (Array.isArray(container)) return container.some((x) => equal(x, item));
  if (container !== null && typeof container === 'object') return Object.prototype.hasOwnProperty.call(container, asText(item));
  if (typeof container === 'string') return container.includes(asText(item));
  throw new ConditionError(`"in" needs a list, a map or a string on its right, got ${JSON.stringify(container)}`);
}

function value(n: ConditionNode, scope: ConditionScope): unknown {
  switch (n.kind) {
    case 'literal':
      return n.value;
    case 'list':
      return n.items.map((i) => value(i, scope));
    case 'path': {
      const v = scope.lookup(n.path);
      if (v === undefined) throw new ConditionError(`"${n.path.join('.')}" is not defined (use defined(${n.path.join('.')}) to test for it)`);
      return v;
    }
    case 'defined':
      return scope.lookup(n.path) !== undefined;
    case 'changed':
      return scope.changed(n.step);
    case 'len': {
      const v = value(n.arg, scope);
      if (typeof v === 'string' || Array.isArray(v)) return v.length;
      if (v !== null && typeof v === 'object') return Object.keys(v).length;
      throw new ConditionError(`len() needs a string, a list or a map, got ${JSON.stringify(v)}`);
    }
    case 'not':
      return !truthy(value(n.arg, scope));
    case 'and':
      return truthy(value(n.left, scope)) && truthy(value(n.right, scope));
    case 'or':
      return truthy(value(n.left, scope)) || truthy(value(n.right, scope));
    case 'compare': {
      const a = value(n.left, scope);
      const b = value(n.right, scope);
      switch (n.op) {
        case '==':
          return equal(a, b);
        case '!=':
          return !equal(a, b);
        case 'in':
          return contains(b, a);
        case 'not in':
          return !contains(b, a);
        default:
          return order(a, b, n.op);
      }
    }
  }
}

/** Evaluates a parsed condition; throws ConditionError when a name is undefined or a comparison makes no sense. */
export function evaluateCondition(node: ConditionNode, scope: ConditionScope): boolean {
  return truthy(value(node, scope));
}

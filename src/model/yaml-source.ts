/**
 * Reads a YAML file into plain JS while keeping a map back to the source, so that every later
 * problem (schema, cross-reference, template) can name file:line:col. Collects every YAML error
 * instead of stopping at the first, and refuses inputs built to exhaust memory.
 */
import { readFileSync, statSync } from 'node:fs';
import { LineCounter, parseDocument, isAlias, isMap, isPair, isScalar, isSeq, visit, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import { UserError, type Problem, type SourcePos } from './errors.js';
import { UnavailableSecret } from './secrets.js';

/** Why a `!vault` value cannot be used, and how to give runbook the value instead. */
export const VAULT_REASON =
  'it is ansible-vault encrypted, and runbook does not decrypt vault; give runbook the value as `NAME: { secret: true, env: VAR }` or `NAME: { secret: true, file: PATH }` in a vars file';

/** Runbooks and inventories are hand-written; anything larger is a mistake or an attack. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** Far above honest anchor reuse, far below a billion-laughs expansion. */
export const MAX_ALIAS_COUNT = 1000;

export type PathSeg = string | number;

export interface YamlSource {
  file: string;
  text: string;
  doc: Document.Parsed;
  /** The document as plain JS; undefined when YAML errors made it unusable. */
  value: unknown;
  problems: Problem[];
  /** Where the node at `path` starts; with `key`, where that map key starts. Falls back to the nearest ancestor. */
  posAt(path: readonly PathSeg[], opts?: { key?: string }): SourcePos;
  /** Where each `{{ ... }}` placeholder of the string at `path` sits in the source (empty if not found). */
  placeholderPositions(path: readonly PathSeg[]): SourcePos[];
}

/** "an inventory", "a runbook": the kinds of file named in messages. */
const article = (what: string): string => (/^[aeiou]/i.test(what) ? 'an' : 'a');

/** Reads a file with size and content guards; a missing or unreadable file is a UserError. */
export function readSourceFile(file: string, what: string): string {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new UserError({ message: `${what} ${file} is not a file` });
    size = st.size;
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError({ message: `${what} ${file} not found`, hint: 'check the path' });
  }
  if (size > MAX_FILE_BYTES) {
    throw new UserError({
      pos: { file, line: 1, col: 1 },
      message: `file is ${size} bytes; runbook reads at most ${MAX_FILE_BYTES} bytes`,
      hint: `is this really ${article(what)} ${what}?`,
    });
  }
  const text = readFileSync(file, 'utf8');
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    const before = text.slice(0, nul);
    const line = before.split('\n').length;
    const col = nul - before.lastIndexOf('\n');
    throw new UserError({ pos: { file, line, col }, message: 'binary data (NUL byte) in a text file', hint: `is this really ${article(what)} ${what}?` });
  }
  return text;
}

function firstLine(msg: string): string {
  return msg.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/** YAML 1.2 for runbook's own files; Ansible's files are YAML 1.1 as PyYAML reads them (`yes` is true, `0755` octal). */
export type YamlVersion = '1.1' | '1.2';

export function parseYaml(text: string, file: string, version: YamlVersion = '1.2'): YamlSource {
  try {
    return parseYamlDocument(text, file, version);
  } catch (err) {
    // The yaml parser recurses per nesting level; past the stack it throws instead of reporting.
    if (err instanceof RangeError) {
      throw new UserError({ pos: { file, ...deepestPoint(text) }, message: 'YAML nested too deeply', hint: 'runbooks and inventories need only a few levels' });
    }
    throw err;
  }
}

/** Where the nesting is deepest (indentation plus open flow brackets): what to point the reader at. */
function deepestPoint(text: string): { line: number; col: number } {
  let best = { depth: -1, line: 1, col: 1 };
  let flow = 0;
  let line = 1;
  let col = 1;
  let indent = 0;
  let atLineStart = true;
  for (const ch of text) {
    if (ch === '\n') {
      line += 1;
      col = 1;
      indent = 0;
      atLineStart = true;
      continue;
    }
    if (atLineStart && (ch === ' ' || ch === '-')) indent += 1;
    else atLineStart = false;
    if (ch === '[' || ch === '{') flow += 1;
    else if ((ch === ']' || ch === '}') && flow > 0) flow -= 1;
    if (flow + indent > best.depth) best = { depth: flow + indent, line, col };
    col += 1;
  }
  return { line: best.line, col: best.col };
}

function parseYamlDocument(text: string, file: string, version: YamlVersion): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    version,
    prettyErrors: false,
    // Duplicate keys are found below, so each is reported at the repeated key with its name.
    uniqueKeys: false,
    merge: true,
    strict: true,
    // A collection used as a key is reported below as a located problem, not as a Node warning on stderr.
    logLevel: 'error',
    // Ansible inventories may hold vault-encrypted values; they load as secrets runbook cannot use.
    customTags: (tags) => [
      // PyYAML's YAML 1.1 booleans are the words only: `y` and `n` stay strings (a var named `y`).
      ...tags.map((t) => (version === '1.1' && typeof t === 'object' && t.tag === 'tag:yaml.org,2002:bool' && 'test' in t && t.test ? { ...t, test: t.test.test('yes') ? /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/ : /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/ } : t)),
      { tag: '!vault', resolve: () => new UnavailableSecret(VAULT_REASON) },
    ],
  });
  const at = (offset: number): SourcePos => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  const tooDeep = doc.errors.find((e) => /call stack/i.test(e.message));
  const problems: Problem[] = tooDeep
    ? [{ pos: at(tooDeep.pos[0]), message: 'YAML nested too deeply', hint: 'runbooks and inventories need only a few levels' }]
    : doc.errors.map((e) => ({ pos: at(e.pos[0]), message: firstLine(e.message) }));
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (isMap(pair.key) || isSeq(pair.key)) {
          problems.push({ pos: at(pair.key.range?.[0] ?? 0), message: 'a list or mapping used as a key', hint: 'keys must be plain names' });
        }
        if (!isScalar(pair.key)) continue;
        // A merge key is Symbol(<<) once parsed; several in one mapping each merge (as in PyYAML).
        const raw: unknown = pair.key.value;
        const key = typeof raw === 'symbol' ? (raw.description ?? '') : String(raw);
        if (seen.has(key) && key !== '<<') {
          problems.push({ pos: at(pair.key.range?.[0] ?? 0), message: `duplicate key "${key}"`, hint: 'a key may appear once in a mapping; remove or rename one' });
        }
        seen.add(key);
      }
    },
  });

  let value: unknown;
  // Duplicate keys leave a usable document (the last one wins), so schema checks still run and report their problems too.
  if (doc.errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      problems.push({
        pos: at(0),
        message: /alias/i.test(msg) ? `too many alias expansions (over ${MAX_ALIAS_COUNT})` : `cannot read YAML: ${msg}`,
        hint: /alias/i.test(msg) ? 'anchors and aliases may not be nested to expand this much' : undefined,
      });
    }
  }

  // Each map's pairs by key (the first of duplicates, as a scan would find), built when first asked:
  // posAt is asked once per host, and a scan per call made loading N hosts O(N²) (7 s of 10,000).
  const pairIndex = new Map<YAMLMap, Map<string, Pair>>();
  const pairByKey = (map: YAMLMap, key: string): Pair | undefined => {
    let index = pairIndex.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) if (isPair(p) && isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
      pairIndex.set(map, index);
    }
    return index.get(key);
  };

  const posAt = (path: readonly PathSeg[], opts?: { key?: string }): SourcePos => {
    let node: unknown = doc.contents;
    let best: SourcePos = at(0);
    const mark = (n: unknown): void => {
      const range = (n as { range?: [number, number, number] } | null)?.range;
      if (range) best = at(range[0]);
    };
    mark(node);
    const segs = opts?.key === undefined ? path : [...path, opts.key];
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      if (isAlias(node)) node = node.resolve(doc);
      if (isMap(node)) {
        const pair = pairByKey(node, String(seg));
        if (!pair) break;
        if (opts?.key !== undefined && i === segs.length - 1) {
          mark(pair.key);
          break;
        }
        // A key with no value (`name:`) has a null value node; point at the key then.
        node = pair.value ?? pair.key;
        mark(pair.value && (pair.value as Node).range ? pair.value : pair.key);
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) break;
        node = item;
        mark(item);
      } else break;
    }
    return best;
  };

  const placeholderPositions = (path: readonly PathSeg[]): SourcePos[] => {
    const node = doc.getIn(path, true) as Node | undefined;
    if (!isScalar(node) || !node.range || typeof node.value !== 'string') return [];
    const source = text.slice(node.range[0], node.range[1]);
    const out: SourcePos[] = [];
    let from = 0;
    for (const m of node.value.matchAll(/\{\{.*?\}\}/gs)) {
      const i = source.indexOf(m[0], from);
      if (i < 0) return [];
      out.push(at(node.range[0] + i));
      from = i + m[0].length;
    }
    return out;
  };

  return { file, text, doc, value, problems, posAt, placeholderPositions };
}

/** Problems in reading order. */
export function sortProblems(problems: Problem[]): Problem[] {
  return [...problems].sort((a, b) => (a.pos?.file ?? '').localeCompare(b.pos?.file ?? '') || (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0));
}

export function loadYamlFile(file: string, what: string, version: YamlVersion = '1.2'): YamlSource {
  return parseYaml(readSourceFile(file, what), file, version);
}

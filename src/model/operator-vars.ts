/**
 * The vars an operator sets for one run, highest precedence of all (above registered values):
 * RUNBOOK_VAR_<name> environment variables, then --var-file FILE (YAML `name: value`, in the
 * order given), then --var name=value. The first two keep a secret out of argv, where any local
 * user can read it in ps; a var the runbook or inventory declares secret stays masked whichever
 * way it is set (the template decides by name).
 */
import { UserError, type Problem } from './errors.js';
import { loadYamlFile } from './yaml-source.js';
import { MASK } from './secrets.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const VAR_ENV_PREFIX = 'RUNBOOK_VAR_';

/** `--var k=v` options → a var map; a malformed one is a UserError. */
export function parseCliVars(list: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const problems: Problem[] = [];
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    const name = eq > 0 ? item.slice(0, eq) : '';
    if (!NAME.test(name)) {
      problems.push({ message: `bad --var "${item}"`, hint: 'use --var name=value (name: letters, digits, _)' });
      continue;
    }
    out[name] = item.slice(eq + 1);
  }
  if (problems.length) throw new UserError(problems);
  return out;
}

function envVars(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  const problems: Problem[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith(VAR_ENV_PREFIX) || v === undefined) continue;
    const name = k.slice(VAR_ENV_PREFIX.length);
    if (NAME.test(name)) out[name] = v;
    else problems.push({ message: `bad environment variable ${k}`, hint: `use ${VAR_ENV_PREFIX}<name>, name: letters, digits, _` });
  }
  if (problems.length) throw new UserError(problems);
  return out;
}

function fileVars(file: string): Record<string, string> {
  const src = loadYamlFile(file, 'var file');
  if (src.problems.length) throw new UserError(src.problems);
  const value = src.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UserError({ pos: src.posAt([]), message: 'a var file is a map of name: value' });
  const out: Record<string, string> = {};
  const problems: Problem[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (!NAME.test(k)) problems.push({ pos: src.posAt([], { key: k }), message: `bad var name "${k}" (names: letters, digits, _; not starting with a digit)` });
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else problems.push({ pos: src.posAt([k]), message: `var "${k}" must be a string, number or boolean (a --var-file sets plain values)` });
  }
  if (problems.length) throw new UserError(problems);
  return out;
}

export function operatorVars(o: { env: NodeJS.ProcessEnv; varFiles: readonly string[]; vars: readonly string[] }): Record<string, string> {
  return Object.assign({}, envVars(o.env), ...o.varFiles.map(fileVars), parseCliVars(o.vars));
}

/** The operator's vars as a run records them (for resume): a secret's value masked, by name as templates decide. */
export function maskedVars(vars: Record<string, string>, isSecret: (name: string) => boolean): Record<string, string> {
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, isSecret(k) ? MASK : v]));
}

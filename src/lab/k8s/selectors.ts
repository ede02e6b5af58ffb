/**
 * Label selectors as the apiserver parses the `labelSelector` query parameter, for the equality-
 * and existence-based forms (`k`, `!k`, `k=v`, `k==v`, `k!=v`, comma = and). Set-based forms
 * (`k in (a,b)`) are refused with the apiserver's kind of error. Pure.
 */
export class SelectorError extends Error {}

type Term = { key: string; op: 'exists' | 'absent' | 'eq' | 'ne'; value?: string };

export function parseLabelSelector(text: string): Term[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((t): Term => {
      if (/\s(in|notin)\s/.test(t)) throw new SelectorError(`unable to parse requirement: set-based selector "${t}" is not served by the lab API`);
      const m = /^(!?)([A-Za-z0-9._/-]+)(?:\s*(==|=|!=)\s*([A-Za-z0-9._-]*))?$/.exec(t);
      if (!m?.[2]) throw new SelectorError(`unable to parse requirement: invalid label selector "${t}"`);
      if (m[1]) {
        if (m[3]) throw new SelectorError(`unable to parse requirement: invalid label selector "${t}"`);
        return { key: m[2], op: 'absent' };
      }
      if (!m[3]) return { key: m[2], op: 'exists' };
      return { key: m[2], op: m[3] === '!=' ? 'ne' : 'eq', value: m[4] ?? '' };
    });
}

export function matches(terms: readonly Term[], labels: Record<string, unknown>): boolean {
  return terms.every((t) => {
    const v = labels[t.key];
    switch (t.op) {
      case 'exists':
        return v !== undefined;
      case 'absent':
        return v === undefined;
      case 'eq':
        return v === t.value;
      case 'ne':
        return v !== t.value;
    }
  });
}

/**
 * Field selectors as the apiserver parses `fieldSelector` (fields.ParseSelector): `f=v`, `f==v`,
 * `f!=v`, comma = and. Only the field labels a resource declares are accepted; another is the
 * apiserver's 400 "field label not supported".
 */
export type FieldTerm = { field: string; op: 'eq' | 'ne'; value: string };

export function parseFieldSelector(text: string, supported: readonly string[]): FieldTerm[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((t): FieldTerm => {
      const m = /^([A-Za-z0-9._-]+)\s*(==|=|!=)\s*(.*)$/.exec(t);
      if (!m?.[1] || !m[2]) throw new SelectorError(`invalid selector: '${t}'; can't understand '${t}'`);
      if (!supported.includes(m[1])) throw new SelectorError(`field label not supported: ${m[1]}`);
      return { field: m[1], op: m[2] === '!=' ? 'ne' : 'eq', value: m[3] ?? '' };
    });
}

export const fieldsMatch = (terms: readonly FieldTerm[], read: (field: string) => string): boolean => terms.every((t) => (read(t.field) === t.value) === (t.op === 'eq'));

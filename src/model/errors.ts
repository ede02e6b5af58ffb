/**
 * Errors a user can cause. Each renders as one line per problem:
 *   path:line:col: message (hint)
 * The CLI prints `format()` and exits with `exitCode`; it never prints a stack for these.
 */
import { oneLine } from './printable.js';

export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

export interface Problem {
  pos?: SourcePos;
  /** Host the problem concerns, when there is one. */
  host?: string;
  message: string;
  /** What to do about it. */
  hint?: string;
}

/** One line, whatever the message quotes from a file (a user's bytes may hold newlines and escape sequences). */
export function formatProblem(p: Problem): string {
  const where = p.pos ? `${p.pos.file}:${p.pos.line}:${p.pos.col}: ` : p.host ? `${p.host}: ` : '';
  return oneLine(`${where}${p.message}${p.hint ? ` (${p.hint})` : ''}`);
}

export class UserError extends Error {
  readonly problems: Problem[];
  readonly exitCode: number;

  constructor(problems: Problem | Problem[], exitCode = 2) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list.map(formatProblem).join('\n'));
    this.name = 'UserError';
    this.problems = list;
    this.exitCode = exitCode;
  }

  format(): string {
    return this.problems.map(formatProblem).join('\n');
  }
}

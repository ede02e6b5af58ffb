/** Model values for the engine's unit tests: steps, runbooks and hosts with only what a test sets. */
import type { Host, Runbook, Step } from '../../src/model/types.js';
import type { CommandRenderer, FleetBindings } from '../../src/engine/index.js';

export const pos = { file: 'rb.yaml', line: 1, col: 1 };

export function step(name: string, check: string, fix: string[] = [], extra: Partial<Omit<Step, 'when'>> & { when?: string } = {}): Step {
  const { when, ...rest } = extra;
  return {
    name,
    pos,
    check: { text: check, pos },
    fix: fix.map((text) => ({ text, pos })),
    continueOnFailure: false,
    once: false,
    json: false,
    notify: [],
    ...rest,
    needs: rest.needs ?? [],
    files: rest.files ?? [],
    snapshot: rest.snapshot ?? [],
    ...(when ? { when: { text: when, pos } } : {}),
  };
}

export function runbook(steps: Step[], more: Partial<Runbook> = {}): Runbook {
  return { name: 'rb', description: '', file: 'rb.yaml', hash: 'h', vars: {}, steps, handlers: [], ...more };
}

export function host(name: string, groups: string[] = []): Host {
  return { name, address: '127.0.0.1', port: 22, user: 'root', groups, vars: { me: name }, secretVars: [], connection: 'local' };
}

/** Run bindings around a test's own renderer, for runbooks without `when:` or `on:`. */
export function bindings(render: CommandRenderer): FleetBindings {
  return {
    render,
    lookup: () => undefined,
    select: (pattern) => {
      throw new Error(`this test has no inventory to select "${pattern}" from`);
    },
  };
}

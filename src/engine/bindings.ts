/**
 * What the engine reads from the model while a run goes on, in one place: rendering a command
 * (in the plan, or on the host's turn with the values earlier steps registered), the value a
 * `when:` path names, and the hosts an `on:` pattern selects.
 */
import { buildTemplateContext, lookupValue, renderCommand, selectHosts, type TemplateContext } from '../model/index.js';
import type { Host, Inventory, Runbook } from '../model/types.js';
import type { CommandRenderer } from './plan.js';
import type { RegisteredValues } from './registry.js';

export interface FleetBindings {
  render: CommandRenderer;
  /** A dotted path's value as `{{ }}` sees it for this host (vars, registered values, host.*, hosts.*), or undefined. */
  lookup(host: Host, path: string[], registered: RegisteredValues): unknown;
  /** The hosts an `on:` pattern selects from the whole inventory, in inventory order (throws for a bad pattern). */
  select(pattern: string): Host[];
}

/**
 * The model's templating as the run's bindings. `contextFor`: the host's context without
 * registered values (cached by the caller, whose redactor reads its secrets); with registered
 * values, a fresh context layered above the host's vars (below --var).
 */
export function templateBindings(contextFor: (host: Host) => TemplateContext, base: { runbook: Runbook; inventory: Inventory; cliVars: Record<string, string> }): FleetBindings {
  const references = new Set([...base.runbook.steps, ...base.runbook.handlers].flatMap((s) => (s.register ? [s.register] : [])));
  const withRegistered = (host: Host, registered: RegisteredValues): TemplateContext =>
    buildTemplateContext({ ...base, host, registered: registered.own, registeredByHost: registered.byHost, targets: registered.targets });
  // A fleet's hosts mostly render the same text (fix-forwarding's 10 KB FORWARD walk is in every
  // host's check and fix, as sent and as shown): one copy of each long text for the run, not one
  // per host and field, which at 1,000 hosts was most of runbook's memory.
  const texts = new Map<string, string>();
  const shared = (s: string): string => {
    if (s.length < 256) return s;
    const known = texts.get(s);
    if (known !== undefined) return known;
    texts.set(s, s);
    return s;
  };
  const once = (r: ReturnType<typeof renderCommand>): ReturnType<typeof renderCommand> => ({
    ...r, command: shared(r.command), display: shared(r.display), ...(r.brief !== undefined ? { brief: shared(r.brief) } : {}),
  });
  return {
    render: (host, step, template, values) =>
      once(
        values === undefined || values === 'references'
          ? renderCommand(template, contextFor(host), { step: step.name, ...(values ? { references } : {}) })
          : renderCommand(template, withRegistered(host, values), { step: step.name }),
      ),
    lookup: (host, path, registered) => lookupValue(withRegistered(host, registered), path),
    select: (pattern) => selectHosts(base.inventory, pattern),
  };
}

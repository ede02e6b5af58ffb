/**
 * `runbook completion bash|zsh|fish`: a completion script generated from the command tree itself,
 * so it cannot drift from the options runbook really has. Runbook names for apply and show come
 * from `runbook list --names` when the user presses Tab (their own ./runbooks included).
 */
import type { Command } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface Node {
  name: string;
  options: string[];
  subcommands: Node[];
}

function tree(cmd: Command): Node {
  return {
    name: cmd.name(),
    options: cmd.options.flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined)).concat('--help'),
    subcommands: cmd.commands.map(tree),
  };
}

/** Commands whose first argument is a runbook name. */
const TAKES_RUNBOOK = ['apply', 'show'];

function bash(root: Node): string {
  const cases = root.subcommands.map((c) => {
    const subs = c.subcommands.length
      ? [
          `      if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=($(compgen -W '${c.subcommands.map((s) => s.name).join(' ')}' -- "$cur")); return; fi`,
          '      case ${COMP_WORDS[2]} in',
          ...c.subcommands.map((s) => `        ${s.name}) words='${s.options.join(' ')}' ;;`),
          '      esac',
        ]
      : [`      words='${c.options.join(' ')}'`];
    // Names are matched in a loop, never through compgen -W, which would expand them again.
    const runbook = TAKES_RUNBOOK.includes(c.name)
      ? [
          '      if [ "$COMP_CWORD" -eq 2 ] && [[ $cur != -* ]]; then',
          '        COMPREPLY=(); while IFS= read -r n; do [[ $n == "$cur"* ]] && COMPREPLY+=("$n"); done < <(runbook list --names 2> /dev/null); return',
          '      fi',
        ]
      : [];
    return [`    ${c.name})`, ...runbook, ...subs, '      ;;'].join('\n');
  });
  return [
    '# runbook completion for bash: eval "$(runbook completion bash)" in ~/.bashrc',
    '_runbook() {',
    '  local cur=${COMP_WORDS[COMP_CWORD]} words= n',
    `  if [ "$COMP_CWORD" -eq 1 ]; then COMPREPLY=($(compgen -W '${root.subcommands.map((c) => c.name).join(' ')} ${root.options.join(' ')}' -- "$cur")); return; fi`,
    '  case ${COMP_WORDS[1]} in',
    ...cases,
    '  esac',
    '  # Options where one is being typed; otherwise file names (runbook and inventory paths).',
    '  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$words" -- "$cur")); fi',
    '}',
    'complete -o default -F _runbook runbook',
    '',
  ].join('\n');
}

function fish(root: Node): string {
  const flag = (f: string): string => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`);
  const lines = [
    '# runbook completion for fish: runbook completion fish > ~/.config/fish/completions/runbook.fish',
    'complete -c runbook -f',
    `complete -c runbook -n __fish_use_subcommand -a '${root.subcommands.map((c) => c.name).join(' ')}'`,
  ];
  for (const c of root.subcommands) {
    const when = `__fish_seen_subcommand_from ${c.name}`;
    if (c.subcommands.length) {
      const subs = c.subcommands.map((s) => s.name).join(' ');
      lines.push(`complete -c runbook -n '${when}; and not __fish_seen_subcommand_from ${subs}' -a '${subs}'`);
      for (const s of c.subcommands) for (const o of s.options) lines.push(`complete -c runbook -n '${when}; and __fish_seen_subcommand_from ${s.name}' ${flag(o)}`);
    } else {
      for (const o of c.options) lines.push(`complete -c runbook -n '${when}' ${flag(o)}`);
    }
    if (TAKES_RUNBOOK.includes(c.name)) lines.push(`complete -c runbook -n '${when}' -a '(runbook list --names 2> /dev/null)'`);
    // Paths where the command takes them (runbook files, inventories, audit trails).
    lines.push(`complete -c runbook -n '${when}' -F`);
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(shell: Shell, program: Command): string {
  const root = tree(program);
  if (shell === 'fish') return fish(root);
  const script = bash(root);
  // zsh runs bash completion functions through its bashcompinit layer.
  return shell === 'zsh'
    ? `# runbook completion for zsh: eval "$(runbook completion zsh)" in ~/.zshrc\nautoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n${script}`
    : script;
}

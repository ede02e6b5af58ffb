/**
 * Shell-style globs as regular expressions: `*` and `?`, plus `[…]` classes (with `!` negation)
 * when asked. Host patterns take classes, as Ansible's fnmatch does; OpenSSH's known_hosts
 * patterns do not, and match case-insensitively.
 */
export function globToRegExp(glob: string, opts: { classes?: boolean; ignoreCase?: boolean } = {}): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[' && opts.classes && glob.indexOf(']', i + 1) > 0) {
      const end = glob.indexOf(']', i + 1);
      re += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, opts.ignoreCase ? 'i' : '');
}

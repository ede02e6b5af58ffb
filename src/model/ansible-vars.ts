/**
 * Every `ansible_*` inventory var is sorted: honoured (it sets how runbook connects), ignored by
 * design (it has no meaning here and stays an ordinary var), or refused (ignoring it would change
 * what happens). A var on none of the lists is refused until it is sorted. docs/formats.md lists
 * the same names; a test keeps the two in step.
 */
import { shlexSplit } from './python-literal.js';

/** Read by the loader into the host's connection settings. */
export const HONOURED_ANSIBLE_VARS = [
  'ansible_host',
  'ansible_ssh_host',
  'ansible_port',
  'ansible_ssh_port',
  'ansible_user',
  'ansible_ssh_user',
  'ansible_connection',
  'ansible_ssh_private_key_file',
  'ansible_private_key_file',
  'ansible_become',
  'ansible_become_password',
  'ansible_become_pass',
  'ansible_become_method',
  'ansible_become_user',
  'ansible_ssh_common_args',
  'ansible_ssh_extra_args',
  'ansible_group_priority',
] as const;

/** Ansible's own machinery (interpreter, module transfer, connection reuse): nothing of it applies to runbook. */
export const IGNORED_ANSIBLE_VARS = [
  'ansible_python_interpreter',
  'ansible_shell_type',
  'ansible_shell_executable',
  'ansible_pipelining',
  'ansible_ssh_pipelining',
  'ansible_ssh_executable',
  'ansible_ssh_args',
  'ansible_ssh_transfer_method',
  'ansible_scp_if_ssh',
  'ansible_scp_extra_args',
  'ansible_sftp_extra_args',
  'ansible_sftp_batch_mode',
  'ansible_ssh_retries',
  'ansible_timeout',
  'ansible_ssh_timeout',
  'ansible_module_compression',
  'ansible_remote_tmp',
  'ansible_async_dir',
  'ansible_keep_remote_files',
  'ansible_network_os',
] as const;

const KEYS_INSTEAD = 'runbook logs in with keys or the ssh agent: set ansible_ssh_private_key_file';
const BECOME_INSTEAD = 'use ansible_become and ansible_become_password';
const HOST_KEYS_INSTEAD = 'runbook always verifies host keys: add them to known_hosts, or name a file with -o UserKnownHostsFile=FILE in ansible_ssh_common_args';

/** Refused, with what to use instead. */
export const REFUSED_ANSIBLE_VARS: Readonly<Record<string, string>> = {
  ansible_password: KEYS_INSTEAD,
  ansible_ssh_pass: KEYS_INSTEAD,
  ansible_ssh_password: KEYS_INSTEAD,
  ansible_become_exe: 'runbook runs sudo itself; remove it',
  ansible_become_flags: 'runbook runs sudo -n (sudo -S with ansible_become_password); remove it',
  ansible_sudo: BECOME_INSTEAD,
  ansible_sudo_pass: BECOME_INSTEAD,
  ansible_sudo_user: BECOME_INSTEAD,
  ansible_su: BECOME_INSTEAD,
  ansible_su_pass: BECOME_INSTEAD,
  ansible_host_key_checking: HOST_KEYS_INSTEAD,
  ansible_ssh_host_key_checking: HOST_KEYS_INSTEAD,
};

/** The sorting of one var: undefined when runbook accepts it, else the problem (message and hint). */
export function refusedAnsibleVar(name: string, value: unknown): { message: string; hint: string } | undefined {
  const text = String(value);
  if (name === 'ansible_become_method' && text !== 'sudo') return { message: `ansible_become_method "${text}" is not supported`, hint: 'runbook becomes root with sudo; remove it or set it to sudo' };
  if (name === 'ansible_become_user' && text !== 'root') return { message: `ansible_become_user "${text}" is not supported`, hint: 'runbook becomes root only; to act as another user, log in as it with ansible_user' };
  if ((HONOURED_ANSIBLE_VARS as readonly string[]).includes(name) || (IGNORED_ANSIBLE_VARS as readonly string[]).includes(name)) return undefined;
  // Checking host keys is what runbook does anyway; only turning it off is refused.
  if (name.endsWith('host_key_checking') && (value === true || /^(?:yes|true|on|1)$/i.test(text))) return undefined;
  const instead = REFUSED_ANSIBLE_VARS[name];
  if (instead !== undefined) return { message: `${name} is not supported`, hint: instead };
  return { message: `${name} is not an ansible_* var runbook knows`, hint: "remove it, or rename it if a runbook reads it (docs/formats.md lists the ones runbook knows)" };
}

/** What ssh options in ansible_ssh_common_args / ansible_ssh_extra_args runbook uses. */
export interface SshArgs {
  proxyJump?: string;
  knownHostsFile?: string;
}

/** ssh -o options that tune OpenSSH's own connection handling, which runbook's client does not have. */
const IGNORED_SSH_OPTIONS = ['controlmaster', 'controlpersist', 'controlpath', 'serveraliveinterval', 'serveralivecountmax', 'connecttimeout', 'connectionattempts', 'compression', 'loglevel'];

/**
 * Reads ssh args as Ansible splits them (shlex): `-o ProxyJump=X` / `-J X` and
 * `-o UserKnownHostsFile=F` are used; connection-tuning options (-C, -q, -v, ControlMaster, …)
 * are ignored; anything else is refused, since ignoring it would connect differently.
 */
export function parseSshArgs(name: string, text: string): SshArgs | { message: string; hint: string } {
  const refuse = (what: string, hint = 'runbook understands -o ProxyJump=HOST, -J HOST and -o UserKnownHostsFile=FILE here; a ProxyCommand bastion is -o ProxyJump=USER@BASTION'): { message: string; hint: string } => ({ message: `${name}: ${what} is not supported`, hint });
  if (text.includes('{{')) return refuse('a Jinja expression', 'runbook does not evaluate Jinja in inventories; write the value out');
  const words = shlexSplit(text);
  if (!Array.isArray(words)) return refuse(`"${text}" (${words.error})`);
  const out: SshArgs = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!.word;
    if (w === '-C' || w === '-q' || /^-v+$/.test(w)) continue;
    let opt: string | undefined;
    if (w === '-J' || w === '-o') {
      const next = words[++i]?.word;
      if (next === undefined) return refuse(`"${w}" without a value`);
      opt = w === '-J' ? `proxyjump=${next}` : next;
    } else if (w.startsWith('-J') || w.startsWith('-o')) opt = w.startsWith('-J') ? `proxyjump=${w.slice(2)}` : w.slice(2);
    else return refuse(`"${w}"`);
    const m = /^([A-Za-z]+)\s*[= ]\s*(.*)$/.exec(opt);
    if (!m) return refuse(`"-o ${opt}"`);
    const [key, value] = [m[1]!.toLowerCase(), m[2]!];
    if (key === 'proxyjump') out.proxyJump = value;
    else if (key === 'userknownhostsfile') out.knownHostsFile = value;
    else if (key === 'stricthostkeychecking' && /^(?:yes|ask)$/i.test(value)) continue;
    else if (!IGNORED_SSH_OPTIONS.includes(key)) return refuse(`"-o ${opt}"`, key === 'stricthostkeychecking' ? HOST_KEYS_INSTEAD : undefined);
  }
  return out;
}

/**
 * Signed approvals of a saved plan, with OpenSSH's own file signatures (`ssh-keygen -Y`, namespace
 * runbook-plan): an operator's SSH key is all it takes. Each signer's signature is its own file,
 * `plan.json.sigs/<principal>.sig`, so signatures add up. A signature is counted only after
 * `ssh-keygen -Y verify` accepts it for this exact plan file against the allowed-signers file;
 * the file's name is never trusted (the principal comes from `-Y find-principals`).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { UserError } from '../model/index.js';

export const SIGNATURE_NAMESPACE = 'runbook-plan';
const PRINCIPAL_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]*$/;
/** Bounds on what a signatures directory may hold: it is shared with other people. */
const MAX_SIGNATURES = 100;
const MAX_SIGNATURE_BYTES = 64 * 1024;

export const signaturesDir = (planFile: string): string => `${planFile}.sigs`;

function keygen(args: string[], input?: Buffer): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ssh-keygen', args, { input, encoding: 'buffer', stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new UserError({ message: 'cannot run ssh-keygen: it is not on the PATH', hint: 'install OpenSSH 8.2 or later (ssh-keygen -Y)' });
  if (r.error) throw new UserError({ message: `ssh-keygen ${args.slice(0, 2).join(' ')} failed: ${r.error.message}`, hint: 'run it by hand to see why' });
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/** The public key blob (base64) inside an armored SSH signature, or undefined if it is not one. */
export function signatureKey(armored: string): string | undefined {
  const m = /-----BEGIN SSH SIGNATURE-----([\s\S]*?)-----END SSH SIGNATURE-----/.exec(armored);
  if (!m) return undefined;
  const buf = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  if (buf.length < 14 || buf.subarray(0, 6).toString('latin1') !== 'SSHSIG') return undefined;
  const len = buf.readUInt32BE(10);
  if (14 + len > buf.length) return undefined;
  return buf.subarray(14, 14 + len).toString('base64');
}

/** A private scratch directory for ssh-keygen's inputs, removed afterwards. */
function withScratch<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-sig-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** fs errors as one line with what to do, not a stack trace. */
function fsStep<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UserError({ message: `cannot ${what}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint: 'check the path and its permissions' });
  }
}

/**
 * `runbook sign`: signs `plan` (the plan file's bytes, as checked by the caller) with `key` (a
 * private key file, or a public one whose private half is in ssh-agent) as `principal`. ssh-keygen
 * signs a private copy by path, so the terminal stays free for it to ask a key's passphrase.
 */
export function signPlan(planFile: string, plan: Buffer, principal: string, keyOpt: string | undefined): string {
  if (!PRINCIPAL_RE.test(principal)) {
    throw new UserError({ message: `principal "${principal}" cannot name a signature file`, hint: 'use letters, digits and . _ @ + - (as in your allowed-signers file), with --principal' });
  }
  const key = keyOpt ?? DEFAULT_KEYS.map((k) => join(homedir(), '.ssh', k)).find((k) => existsSync(k));
  if (!key) throw new UserError({ message: `no SSH key to sign with: none of ~/.ssh/${DEFAULT_KEYS.join(', ~/.ssh/')} exists`, hint: 'pass --key FILE' });
  if (!existsSync(key)) throw new UserError({ message: `--key ${key} does not exist`, hint: 'pass the private key file, or a .pub file whose key is in ssh-agent' });
  const signature = withScratch((dir) => {
    const copy = join(dir, 'plan.json');
    writeFileSync(copy, plan, { mode: 0o600 });
    const r = spawnSync('ssh-keygen', ['-q', '-Y', 'sign', '-f', key, '-n', SIGNATURE_NAMESPACE, copy], { stdio: 'inherit', timeout: 300_000 });
    if (r.error || r.status !== 0 || !existsSync(`${copy}.sig`)) {
      throw new UserError({ message: `ssh-keygen could not sign ${planFile} with ${key}${r.error ? `: ${r.error.message}` : ''}`, hint: 'see its message above; a .pub key needs its private half in ssh-agent' });
    }
    return readFileSync(`${copy}.sig`);
  });
  const dir = signaturesDir(planFile);
  const out = join(dir, `${principal}.sig`);
  fsStep(`write ${out}`, () => {
    mkdirSync(dir, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    writeFileSync(tmp, signature, { mode: 0o644, flag: 'wx' });
    renameSync(tmp, out);
  });
  return out;
}

/** Signatures left from an earlier plan at the same path: they cannot sign the new one. */
export function removeStaleSignatures(planFile: string): string[] {
  const dir = signaturesDir(planFile);
  return fsStep(`remove the old signatures in ${dir}`, () => {
    if (!existsSync(dir)) return [];
    const stale = readdirSync(dir).filter((f) => f.endsWith('.sig'));
    for (const f of stale) rmSync(join(dir, f), { force: true });
    return stale;
  });
}

/** The signature files present, for a reviewer (apply checks them). */
export function signatureFiles(planFile: string): string[] {
  const dir = signaturesDir(planFile);
  return fsStep(`list ${dir}`, () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sig')).sort() : []));
}

/**
 * The launcher's public keys, as base64 blobs: what they can sign or connect with (ssh-agent's
 * keys, the default key files, and the inventory's identity files). Their own signature is theirs.
 */
export function launcherKeys(identityFiles: readonly string[], env: NodeJS.ProcessEnv = process.env, home = homedir()): Set<string> {
  const keys = new Set<string>();
  const addLine = (line: string): void => {
    const blob = line.trim().split(/\s+/)[1];
    if (blob) keys.add(blob);
  };
  if (env.SSH_AUTH_SOCK) {
    const r = spawnSync('ssh-add', ['-L'], { encoding: 'utf8', timeout: 10_000, env });
    if (r.status === 0) r.stdout.split('\n').forEach(addLine);
  }
  const files = [...DEFAULT_KEYS.map((k) => join(home, '.ssh', k)), ...identityFiles];
  for (const f of files) {
    const pub = f.endsWith('.pub') ? f : `${f}.pub`;
    if (existsSync(pub)) readFileSync(pub, 'utf8').split('\n').forEach(addLine);
    else if (existsSync(f)) {
      // No .pub beside it: derive it (an encrypted key without one is skipped: nothing is asked).
      const r = spawnSync('ssh-keygen', ['-y', '-P', '', '-f', f], { encoding: 'utf8', timeout: 10_000 });
      if (r.status === 0) addLine(r.stdout);
    }
  }
  return keys;
}

export interface ApprovalCheck {
  /** Distinct principals whose valid signature counts. */
  approvers: string[];
  /** Each signature file not counted, and why. */
  notCounted: string[];
}

/** The principals of allowed-signers lines whose key the launcher holds (`principals [options] keytype base64`). */
function principalsWithKeys(allowedSigners: string, keys: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync(allowedSigners, 'utf8').split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === undefined || words[0].startsWith('#')) continue;
    const typeAt = words.findIndex((w, i) => i > 0 && /^(ssh-|ecdsa-|sk-)/.test(w));
    if (typeAt > 0 && keys.has(words[typeAt + 1] ?? '')) for (const p of words[0].split(',')) out.add(p.replace(/^"|"$/g, ''));
  }
  return out;
}

/** A signature file's bytes, read once: not a link, not a FIFO, bounded (the directory is shared). */
function readSignature(path: string): Buffer | string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    return `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'not a regular file';
    if (st.size > MAX_SIGNATURE_BYTES) return `larger than ${MAX_SIGNATURE_BYTES} bytes, not a signature`;
    const buf = Buffer.alloc(st.size);
    const n = readSync(fd, buf, 0, st.size, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Every signature in the plan's signatures directory, checked with ssh-keygen against
 * `allowedSigners`, over `plan`: the very bytes apply checked and runs. Each signature is read
 * once into a private copy, and ssh-keygen and the launcher check see those same bytes: a file
 * swapped meanwhile changes nothing. The launcher's own approval is left out by key (one they
 * hold), by principal (any principal with such a key) and by name (`launcherName`).
 */
export function checkApprovals(
  planFile: string,
  plan: Buffer,
  allowedSigners: string,
  launcher: { keys: ReadonlySet<string>; name: string },
  allowSelf: boolean,
): ApprovalCheck {
  if (!existsSync(allowedSigners)) throw new UserError({ message: `--allowed-signers ${allowedSigners} does not exist`, hint: 'the file lists "principal key" lines (ssh-keygen(1), ALLOWED SIGNERS)' });
  const selfPrincipals = fsStep(`read ${allowedSigners}`, () => principalsWithKeys(allowedSigners, launcher.keys));
  selfPrincipals.add(launcher.name);
  const dir = signaturesDir(planFile);
  const files = signatureFiles(planFile);
  if (files.length > MAX_SIGNATURES) throw new UserError({ message: `${dir} holds ${files.length} signatures; at most ${MAX_SIGNATURES} are read`, hint: 'remove the ones that are not for this plan' });
  const approvers: string[] = [];
  const notCounted: string[] = [];
  withScratch((scratch) => {
    const planCopy = join(scratch, 'plan.json');
    writeFileSync(planCopy, plan, { mode: 0o600 });
    for (const f of files) {
      const bytes = readSignature(join(dir, f));
      if (typeof bytes === 'string') {
        notCounted.push(`${f}: ${bytes}`);
        continue;
      }
      const sig = join(scratch, 'signature');
      writeFileSync(sig, bytes, { mode: 0o600 });
      const found = keygen(['-Y', 'find-principals', '-s', sig, '-f', allowedSigners]);
      const principals = found.code === 0 ? found.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '') : [];
      if (principals.length === 0) {
        notCounted.push(`${f}: its key is not in ${basename(allowedSigners)}`);
        continue;
      }
      const valid = principals.find((p) => keygen(['-Y', 'verify', '-f', allowedSigners, '-I', p, '-n', SIGNATURE_NAMESPACE, '-s', sig], plan).code === 0);
      if (valid === undefined) {
        notCounted.push(`${f}: not a valid signature of this plan (${principals.join(', ')}'s key; forged, or made for another plan)`);
        continue;
      }
      const key = signatureKey(bytes.toString('latin1'));
      if (!allowSelf && ((key !== undefined && launcher.keys.has(key)) || selfPrincipals.has(valid))) {
        notCounted.push(`${f}: ${valid} is the launcher (a key this operator holds, or their name; --allow-self-approval counts it)`);
        continue;
      }
      if (approvers.includes(valid)) {
        notCounted.push(`${f}: ${valid} signed already (one approval per principal)`);
        continue;
      }
      approvers.push(valid);
    }
  });
  return { approvers, notCounted };
}

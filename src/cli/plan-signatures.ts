/**
 * Signed approvals of a saved plan, with OpenSSH's own file signatures (`ssh-keygen -Y`, namespace
 * runbook-plan): an operator's SSH key is all it takes. Each signer's signature is its own file,
 * `plan.json.sigs/<principal>.sig`, so signatures add up. A signature is counted only after
 * `ssh-keygen -Y verify` accepts it for this exact plan file against the allowed-signers file;
 * the file's name is never trusted (the principal comes from `-Y find-principals`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
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
  if (r.error) throw new UserError({ message: `cannot run ssh-keygen: ${r.error.message}`, hint: 'install OpenSSH 8.2 or later (ssh-keygen -Y)' });
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

/**
 * `runbook sign`: signs the plan file's exact bytes with `key` (a private key file, or a public
 * one whose private half is in ssh-agent) as `principal`. A passphrase is asked by ssh-keygen itself.
 */
export function signPlan(planFile: string, principal: string, keyOpt: string | undefined): string {
  if (!PRINCIPAL_RE.test(principal)) {
    throw new UserError({ message: `principal "${principal}" cannot name a signature file`, hint: 'use letters, digits and . _ @ + - (as in your allowed-signers file), with --principal' });
  }
  const key = keyOpt ?? DEFAULT_KEYS.map((k) => join(homedir(), '.ssh', k)).find((k) => existsSync(k));
  if (!key) throw new UserError({ message: `no SSH key to sign with: none of ~/.ssh/${DEFAULT_KEYS.join(', ~/.ssh/')} exists`, hint: 'pass --key FILE' });
  if (!existsSync(key)) throw new UserError({ message: `--key ${key} does not exist`, hint: 'pass the private key file, or a .pub file whose key is in ssh-agent' });
  const dir = signaturesDir(planFile);
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${principal}.sig`);
  const tmp = `${out}.${process.pid}.tmp`;
  // Signing stdin: ssh-keygen prints the signature instead of writing <file>.sig beside the plan.
  const r = spawnSync('ssh-keygen', ['-Y', 'sign', '-f', key, '-n', SIGNATURE_NAMESPACE], { input: readFileSync(planFile), stdio: ['pipe', 'pipe', 'inherit'], timeout: 300_000 });
  if (r.error || r.status !== 0 || !r.stdout?.length) {
    throw new UserError({ message: `ssh-keygen could not sign ${planFile} with ${key}${r.error ? `: ${r.error.message}` : ''}`, hint: 'see its message above; a .pub key needs its private half in ssh-agent' });
  }
  writeFileAtomic(tmp, out, r.stdout);
  return out;
}

function writeFileAtomic(tmp: string, out: string, data: Buffer): void {
  rmSync(tmp, { force: true });
  writeFileSync(tmp, data, { mode: 0o644, flag: 'wx' });
  renameSync(tmp, out);
}

/** Signatures left from an earlier plan at the same path: they cannot sign the new one. */
export function removeStaleSignatures(planFile: string): string[] {
  const dir = signaturesDir(planFile);
  if (!existsSync(dir)) return [];
  const stale = readdirSync(dir).filter((f) => f.endsWith('.sig'));
  for (const f of stale) rmSync(join(dir, f), { force: true });
  return stale;
}

/**
 * The launcher's public keys, as base64 blobs: what they can sign or connect with (ssh-agent's
 * keys, the default key files, and the inventory's identity files). Their own signature is theirs.
 */
export function launcherKeys(identityFiles: readonly string[], env: NodeJS.ProcessEnv = process.env): Set<string> {
  const keys = new Set<string>();
  const addLine = (line: string): void => {
    const blob = line.trim().split(/\s+/)[1];
    if (blob) keys.add(blob);
  };
  if (env.SSH_AUTH_SOCK) {
    const r = spawnSync('ssh-add', ['-L'], { encoding: 'utf8', timeout: 10_000, env });
    if (r.status === 0) r.stdout.split('\n').forEach(addLine);
  }
  const files = [...DEFAULT_KEYS.map((k) => join(homedir(), '.ssh', k)), ...identityFiles];
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

/**
 * Every signature in the plan's signatures directory, checked with ssh-keygen against `allowedSigners`,
 * over `plan`: the very bytes apply checked and runs (a file swapped meanwhile cannot borrow approvals).
 */
export function checkApprovals(planFile: string, plan: Buffer, allowedSigners: string, launcher: ReadonlySet<string>, allowSelf: boolean): ApprovalCheck {
  if (!existsSync(allowedSigners)) throw new UserError({ message: `--allowed-signers ${allowedSigners} does not exist`, hint: 'the file lists "principal key" lines (ssh-keygen(1), ALLOWED SIGNERS)' });
  const dir = signaturesDir(planFile);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sig')).sort() : [];
  if (files.length > MAX_SIGNATURES) throw new UserError({ message: `${dir} holds ${files.length} signatures; at most ${MAX_SIGNATURES} are read`, hint: 'remove the ones that are not for this plan' });
  const approvers: string[] = [];
  const notCounted: string[] = [];
  for (const f of files) {
    const path = join(dir, f);
    if (statSync(path).size > MAX_SIGNATURE_BYTES) {
      notCounted.push(`${f}: larger than ${MAX_SIGNATURE_BYTES} bytes, not a signature`);
      continue;
    }
    const found = keygen(['-Y', 'find-principals', '-s', path, '-f', allowedSigners]);
    const principals = found.code === 0 ? found.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '') : [];
    if (principals.length === 0) {
      notCounted.push(`${f}: its key is not in ${basename(allowedSigners)}`);
      continue;
    }
    const valid = principals.find((p) => keygen(['-Y', 'verify', '-f', allowedSigners, '-I', p, '-n', SIGNATURE_NAMESPACE, '-s', path], plan).code === 0);
    if (valid === undefined) {
      notCounted.push(`${f}: not a valid signature of this plan (${principals.join(', ')}'s key; forged, or made for another plan)`);
      continue;
    }
    const key = signatureKey(readFileSync(path, 'utf8'));
    if (!allowSelf && key !== undefined && launcher.has(key)) {
      notCounted.push(`${f}: ${valid} is the launcher (signed with a key this operator holds; --allow-self-approval counts it)`);
      continue;
    }
    if (approvers.includes(valid)) {
      notCounted.push(`${f}: ${valid} signed already (one approval per principal)`);
      continue;
    }
    approvers.push(valid);
  }
  return { approvers, notCounted };
}

/**
 * The floor for an ssh2-based tool: connect to every host at once, run the same commands with the
 * same per-host order (check → fix → verify), nothing else. Host keys are checked against the lab's
 * known_hosts (fail closed), as runbook does. Exit 0 only if every host ends with every step passing.
 *
 *   node dist/bench/floor.js SPEC.json
 */
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import { passes, type FloorSpec, type SpecHost, type SpecStep } from './spec.js';

interface Ran {
  code: number | null;
  stdout: string;
}

function knownKeys(file: string): Map<string, Buffer[]> {
  const keys = new Map<string, Buffer[]>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [hosts, , blob] = line.trim().split(/\s+/);
    if (!hosts || !blob || hosts.startsWith('#')) continue;
    for (const h of hosts.split(',')) keys.set(h, [...(keys.get(h) ?? []), Buffer.from(blob, 'base64')]);
  }
  return keys;
}

function connect(host: SpecHost, spec: FloorSpec, key: Buffer, trusted: Buffer[]): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', reject);
    c.on('ready', () => resolve(c));
    c.connect({
      host: host.address,
      username: spec.user,
      privateKey: key,
      readyTimeout: 30_000,
      hostVerifier: (k: Buffer) => trusted.some((t) => t.equals(k)),
    });
  });
}

function exec(c: ssh2.Client, command: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, ch) => {
      if (err) return reject(err);
      let code: number | null = null;
      const out: Buffer[] = [];
      ch.on('exit', (c2: number | null) => (code = c2));
      ch.on('data', (d: Buffer) => out.push(d));
      ch.stderr.resume();
      ch.on('close', () => resolve({ code, stdout: Buffer.concat(out).toString() }));
    });
  });
}

async function runStep(c: ssh2.Client, step: SpecStep, mode: FloorSpec['mode']): Promise<boolean> {
  const check = await exec(c, step.check);
  if (passes(check.code, check.stdout, step.expect)) return true;
  if (mode === 'check' || step.fix.length === 0) return false;
  for (const f of step.fix) if ((await exec(c, f)).code !== 0) return false;
  const verify = await exec(c, step.verify);
  return passes(verify.code, verify.stdout, step.verifyExpect);
}

async function runHost(host: SpecHost, spec: FloorSpec, key: Buffer, known: Map<string, Buffer[]>): Promise<string | undefined> {
  let c: ssh2.Client;
  try {
    c = await connect(host, spec, key, known.get(host.address) ?? []);
  } catch (e) {
    return `connect: ${(e as Error).message}`;
  }
  try {
    for (const step of spec.steps) if (!(await runStep(c, step, spec.mode))) return `step "${step.name}" did not pass`;
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    c.end();
  }
}

const spec = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as FloorSpec;
const key = readFileSync(spec.identityFile);
const known = knownKeys(spec.knownHostsFile);
const problems = (await Promise.all(spec.hosts.map((h) => runHost(h, spec, key, known)))).flatMap((p, i) =>
  p ? [`${spec.hosts[i]?.name}: ${p}`] : [],
);
process.stdout.write(`${JSON.stringify({ hosts: spec.hosts.length, failed: problems })}\n`);
process.exitCode = problems.length ? 1 : 0;

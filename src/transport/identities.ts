/**
 * Private keys for public-key auth. Each file is read and (if encrypted) unlocked once per run:
 * the passphrase is asked through the injected callback (the CLI's TTY prompt), shared by every
 * host that uses the file, and kept only in memory as the parsed key.
 */
import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';

export type AskPassphrase = (file: string) => Promise<string>;

export type LoadedIdentity =
  | { file: string; key: ParsedKey }
  /** Encrypted, and no way to ask: skipped; reported only if no other method works. */
  | { file: string; locked: true }
  | { file: string; error: string };

function isEncryptedError(e: Error): boolean {
  return /no passphrase given/i.test(e.message);
}

function first(k: ParsedKey | ParsedKey[] | Error): ParsedKey | Error {
  return Array.isArray(k) ? (k[0] ?? new Error('no key in file')) : k;
}

export class IdentityStore {
  private readonly cache = new Map<string, Promise<LoadedIdentity | undefined>>();
  /** Passphrase prompts share one terminal: each waits for the one before it. */
  private asking: Promise<unknown> = Promise.resolve();

  constructor(private readonly askPassphrase?: AskPassphrase) {}

  /** undefined when the file does not exist (default key paths usually don't). */
  load(file: string): Promise<LoadedIdentity | undefined> {
    let p = this.cache.get(file);
    if (!p) {
      p = this.read(file);
      this.cache.set(file, p);
    }
    return p;
  }

  private async read(file: string): Promise<LoadedIdentity | undefined> {
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return { file, error: `cannot read ${file}: ${(e as Error).message}` };
    }
    const plain = first(ssh2.utils.parseKey(data));
    if (!(plain instanceof Error)) return { file, key: plain };
    if (!isEncryptedError(plain)) return { file, error: `${file} is not a usable private key: ${plain.message}` };
    if (!this.askPassphrase) return { file, locked: true };
    const ask = this.askPassphrase;
    const turn = this.asking.then(() => ask(file));
    this.asking = turn.catch(() => undefined);
    const pass = await turn;
    const unlocked = first(ssh2.utils.parseKey(data, pass));
    if (unlocked instanceof Error) return { file, error: `wrong passphrase for ${file}` };
    return { file, key: unlocked };
  }
}

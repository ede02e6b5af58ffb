import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IdentityStore } from '../../src/transport/identities.js';

function encryptedKey(dir: string, name: string, pass: string): string {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', pass, '-f', file]);
  return file;
}

describe('IdentityStore', () => {
  it('asks for passphrases one at a time, once per file, and unlocks the keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-ids-'));
    const a = encryptedKey(dir, 'a', 'pass-a');
    const b = encryptedKey(dir, 'b', 'pass-b');
    let open = 0;
    let maxOpen = 0;
    const asked: string[] = [];
    const store = new IdentityStore(async (file) => {
      asked.push(file);
      maxOpen = Math.max(maxOpen, ++open);
      await new Promise((r) => setTimeout(r, 50));
      open -= 1;
      return file === a ? 'pass-a' : 'pass-b';
    });
    const loaded = await Promise.all([store.load(a), store.load(b), store.load(a)]);
    expect(maxOpen).toBe(1);
    expect(asked.sort()).toEqual([a, b].sort());
    expect(loaded.every((l) => l !== undefined && 'key' in l)).toBe(true);
  });

  it('reports a wrong passphrase and a locked key without a way to ask', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-ids-'));
    const a = encryptedKey(dir, 'a', 'right');
    expect(await new IdentityStore(async () => 'wrong').load(a)).toEqual({ file: a, error: `wrong passphrase for ${a}` });
    expect(await new IdentityStore().load(a)).toEqual({ file: a, locked: true });
    expect(await new IdentityStore().load(join(dir, 'missing'))).toBeUndefined();
  });
});

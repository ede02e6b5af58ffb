/**
 * Captured content (a file before and after a fix, a snapshot's output), kept by its sha256 beside
 * the audit trail (`captures/<sha256>`), which records only the digests. Content-addressed: the
 * same content is stored once, and a stored file is never rewritten. Private to the operator
 * (0700/0600): a captured file may hold what only root could read on the host.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaptureStore } from '../engine/capture.js';

export function captureStore(dir: string, warn: (line: string) => void): CaptureStore {
  let warned = false;
  return (content) => {
    const digest = createHash('sha256').update(content).digest('hex');
    const file = join(dir, digest);
    try {
      if (!existsSync(file)) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        // Not a link, ours, and private: a directory someone else prepared is not used.
        const st = lstatSync(dir);
        if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) throw new Error('not a private directory of this user (mode 0700)');
        const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
        try {
          writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
          renameSync(tmp, file);
        } finally {
          rmSync(tmp, { force: true });
        }
      }
    } catch (err) {
      // The diff is still shown and the digest recorded; only a later undo would miss the content.
      if (!warned) warn(`runbook: cannot keep captured content in ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (the diffs and digests are still recorded)`);
      warned = true;
    }
    return digest;
  };
}

/**
 * Captured content by digest, for undo: only a regular file of this user whose content still
 * hashes to its name is returned (a file edited in the store is never restored onto a host).
 */
export function readCaptures(dir: string): (sha256: string) => Buffer | undefined {
  return (digest) => {
    if (!/^[0-9a-f]{64}$/.test(digest)) return undefined;
    try {
      const file = join(dir, digest);
      const st = lstatSync(file);
      if (!st.isFile() || st.uid !== process.getuid?.()) return undefined;
      const content = readFileSync(file);
      return createHash('sha256').update(content).digest('hex') === digest ? content : undefined;
    } catch {
      return undefined;
    }
  };
}

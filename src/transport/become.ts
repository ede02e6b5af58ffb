/**
 * `become`: run a command as root through sudo.
 *
 * Without a password: `sudo -n` (never prompts; fails at once if a password is needed).
 * With a password: sudo reads it from stdin (`-S`), never from argv, so it cannot show up in `ps`
 * on the host or in our logs. The password is written only when sudo actually prompts, recognised
 * by a per-command random prompt string; otherwise (NOPASSWD, cached credentials) it would land
 * on the command's stdin. The wrapped shell prints a second marker when it starts, so we know when
 * sudo is done and the caller's own stdin may follow. Both markers are removed from stderr.
 */
import { randomBytes } from 'node:crypto';
import { shellQuote } from './shell-quote.js';

export interface BecomePlan {
  command: string;
  /** Present when a password may be asked: feeds stdin and filters stderr. */
  feeder?: SudoFeeder;
}

export function planBecome(command: string, becomePassword: string | undefined): BecomePlan {
  if (becomePassword === undefined) {
    return { command: `sudo -n -- /bin/sh -c ${shellQuote(command)}` };
  }
  const nonce = randomBytes(8).toString('hex');
  const prompt = `[runbook-sudo-${nonce}]`;
  const started = `[runbook-started-${nonce}]`;
  const inner = `printf '%s' ${shellQuote(started)} >&2; exec /bin/sh -c ${shellQuote(command)}`;
  return {
    command: `sudo -S -p ${shellQuote(prompt)} -- /bin/sh -c ${shellQuote(inner)}`,
    feeder: new SudoFeeder(prompt, started, becomePassword),
  };
}

/** Watches stderr until the command starts; answers sudo's prompt once. */
export class SudoFeeder {
  private pending = '';
  private answered = false;
  started = false;

  constructor(
    private readonly prompt: string,
    private readonly startedMarker: string,
    private readonly password: string,
  ) {}

  /**
   * Feed a stderr chunk. Returns the part of it that belongs to the real stderr, and calls
   * `write` with the password when sudo prompts, `onStart` when the command runs.
   */
  filter(chunk: Buffer, write: (s: string) => void, onStart: () => void, giveUp: () => void): Buffer {
    if (this.started) return chunk;
    this.pending += chunk.toString('latin1');
    let idx: number;
    while ((idx = this.pending.indexOf(this.prompt)) !== -1) {
      this.pending = this.pending.slice(0, idx) + this.pending.slice(idx + this.prompt.length);
      if (this.answered) {
        // Wrong password: sudo asks again. Don't loop; closing stdin makes sudo fail.
        giveUp();
      } else {
        this.answered = true;
        write(`${this.password}\n`);
      }
    }
    idx = this.pending.indexOf(this.startedMarker);
    if (idx === -1) {
      // Keep a possible partial marker back; release the rest (sudo's own messages).
      const keep = Math.max(this.prompt.length, this.startedMarker.length);
      if (this.pending.length <= keep) return Buffer.alloc(0);
      const out = this.pending.slice(0, this.pending.length - keep);
      this.pending = this.pending.slice(this.pending.length - keep);
      return Buffer.from(out, 'latin1');
    }
    this.started = true;
    const out = this.pending.slice(0, idx) + this.pending.slice(idx + this.startedMarker.length);
    this.pending = '';
    onStart();
    return Buffer.from(out, 'latin1');
  }

  /** What is still held back when the stream ends (e.g. sudo's error before the command started). */
  flush(): Buffer {
    const out = this.pending.split(this.prompt).join('');
    this.pending = '';
    return Buffer.from(out, 'latin1');
  }
}

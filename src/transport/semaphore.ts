/**
 * A counting semaphore: at most `limit` holders, waiters served in arrival order, never failing.
 * The one hand-written limiter in the code; p-limit does the rest. p-limit ties a slot to one
 * function call, and neither user here fits that: an SSH connection holds a session slot until
 * the exec channel closes, which can be after the command's result is returned, and a rollout host
 * gives its slot back while it waits for an approval, then queues for one again before it goes on.
 * `waitForRelease()` lets a caller whose channel the server refused retry once another closes.
 */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private releaseWaiters: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  get inUse(): number {
    return this.active;
  }

  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
    const waiting = this.releaseWaiters;
    this.releaseWaiters = [];
    for (const w of waiting) w();
  }

  /** Resolves at the next release() by anyone. */
  waitForRelease(): Promise<void> {
    return new Promise<void>((resolve) => this.releaseWaiters.push(resolve));
  }
}

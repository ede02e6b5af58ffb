/**
 * Limits concurrent exec channels on one connection. Waiters queue in FIFO order and never fail;
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

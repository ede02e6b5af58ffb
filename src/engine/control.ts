/**
 * Run-wide stop signals. Two levels, matching Ctrl-C:
 *  - stop(): start nothing new (quit, first Ctrl-C, and later max_failures); running commands finish.
 *  - interrupt(): close the running channels too (second Ctrl-C, or the drain grace expiring).
 */
import { setMaxListeners } from 'node:events';

export class RunControl {
  private readonly abortController = new AbortController();

  constructor() {
    // Every running command listens on the signal: one per fork and more, not a leak.
    setMaxListeners(0, this.abortController.signal);
  }
  private stopListeners: Array<(reason: string) => void> = [];
  stopReason?: string;
  /** True when the stop came from the operator (quit, Ctrl-C): the run ends "aborted". */
  aborted = false;

  get stopping(): boolean {
    return this.stopReason !== undefined;
  }

  /** Aborts when the running channels must close. Pass to every exec. */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  get interrupted(): boolean {
    return this.abortController.signal.aborted;
  }

  stop(reason: string, opts: { byOperator: boolean }): void {
    if (this.stopping) return;
    this.stopReason = reason;
    this.aborted = opts.byOperator;
    for (const l of this.stopListeners) l(reason);
    this.stopListeners = [];
  }

  interrupt(reason = 'interrupted by the operator'): void {
    this.stop(reason, { byOperator: true });
    if (!this.abortController.signal.aborted) this.abortController.abort(reason);
  }

  onStop(listener: (reason: string) => void): void {
    if (this.stopReason !== undefined) listener(this.stopReason);
    else this.stopListeners.push(listener);
  }
}

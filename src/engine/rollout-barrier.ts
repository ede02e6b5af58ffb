/**
 * The per-step barrier behind `{{ hosts.<name>.<var> }}`: a step that reads other hosts' registered
 * values starts only when every admitted host has finished every earlier step (or has no more
 * steps to run: done, unreachable, stopped). With batches, the admitted hosts are the current and
 * earlier batches, so a later batch's values are not known yet; without batches, every host.
 * Progress is learnt from step-result events; a waiting host gives its slot back meanwhile.
 */
import type { RunEvent } from './events.js';

export class StepBarrier {
  /** Undefined: every host of the run is admitted (no batches). */
  private admitted?: Set<string>;
  private readonly progress = new Map<string, number>();
  private readonly done = new Set<string>();
  private waiters: Array<{ index: number; resolve: () => void }> = [];

  constructor(private readonly hosts: readonly string[]) {}

  admit(hosts: readonly string[]): void {
    this.admitted ??= new Set();
    for (const h of hosts) this.admitted.add(h);
    this.wake();
  }

  /** Feed every event: a step result moves its host past that step. */
  observe(e: RunEvent): void {
    if (e.type !== 'step-result') return;
    const at = this.progress.get(e.host) ?? 0;
    if (e.stepIndex + 1 > at) {
      this.progress.set(e.host, e.stepIndex + 1);
      this.wake();
    }
  }

  finished(host: string): void {
    this.done.add(host);
    this.wake();
  }

  /** Resolves when every admitted host has passed the steps before `index`. */
  wait(index: number): Promise<void> {
    if (this.ready(index)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ index, resolve }));
  }

  private ready(index: number): boolean {
    const hosts = this.admitted ? [...this.admitted] : this.hosts;
    return hosts.every((h) => this.done.has(h) || (this.progress.get(h) ?? 0) >= index);
  }

  private wake(): void {
    const still: typeof this.waiters = [];
    for (const w of this.waiters) (this.ready(w.index) ? w.resolve : () => still.push(w))();
    this.waiters = still;
  }
}

/** Fans events out to listeners, synchronously and in order, so each sees the run as it happens. */
import type { RunEvent, RunEventListener } from './events.js';

export class EventBus {
  private readonly listeners: RunEventListener[] = [];

  on(listener: RunEventListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(event: RunEvent): void {
    for (const l of this.listeners) l(event);
  }
}

/**
 * Timers and never-answered requests that must not outlive `close()`. Every delay
 * fault goes through `sleep`, so closing the emulator clears it; a hang is a promise
 * that holds no handle at all (its socket is destroyed on close).
 */
export class Lifecycle {
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  /** Resolves after `ms`, unless the emulator is closed first (then never). */
  sleep(ms: number): Promise<void> {
    return new Promise(resolve => {
      if (this.#closed) return;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

  /** A promise that never settles: the `hang` fault. */
  hang<T>(): Promise<T> {
    return new Promise<T>(() => {});
  }

  /** Whether close() has begun. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Clears pending timers; later sleeps never resolve. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}

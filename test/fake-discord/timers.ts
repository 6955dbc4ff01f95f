/** Timers the fake owns, so that close() can cancel every one of them and vitest exits. */
export class TimerSet {
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  later(ms: number, fn: () => void): NodeJS.Timeout | undefined {
    if (this.#closed) return undefined;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
    return timer;
  }

  cancel(timer: NodeJS.Timeout | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(timer);
  }

  /** Resolves after ms, or never once the fake is closed (the waiting request dies with its socket). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }

  clearAll(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}

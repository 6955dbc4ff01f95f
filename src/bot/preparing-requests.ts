interface Preparing {
  controller: AbortController;
  settled: Promise<void>;
}

/**
 * /stylize requests between their public reply and the queue (downloading and decoding). The queue does not
 * know them yet, so shutdown stops them here: their signal aborts, and each tells its user itself.
 */
export class PreparingRequests {
  readonly #requests = new Set<Preparing>();
  #stopped = false;

  get size(): number {
    return this.#requests.size;
  }

  /** Runs `prepare` with a signal that aborts at shutdown (at once if shutdown has begun). */
  async run<T>(prepare: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    if (this.#stopped) controller.abort();
    const result = prepare(controller.signal);
    const entry = { controller, settled: result.then(noop, noop) };
    this.#requests.add(entry);
    try {
      return await result;
    } finally {
      this.#requests.delete(entry);
    }
  }

  /** Aborts every request being prepared, and any that starts later. */
  stopAll(): void {
    this.#stopped = true;
    for (const { controller } of this.#requests) controller.abort();
  }

  /** Resolves when the requests being prepared now have all returned. */
  async idle(): Promise<void> {
    await Promise.all([...this.#requests].map((r) => r.settled));
  }
}

function noop(): void {}

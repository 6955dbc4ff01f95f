interface Preparing {
  userId: string;
  controller: AbortController;
  settled: Promise<void>;
}

/**
 * /stylize requests between their public reply and the queue (downloading and decoding). The queue does not
 * know them yet, so they are counted here against the queue's limits, and shutdown stops them here: their
 * signal aborts, and each tells its user itself.
 */
export class PreparingRequests {
  readonly #requests = new Set<Preparing>();
  #stopped = false;

  get size(): number {
    return this.#requests.size;
  }

  /** How many of them are this user's. */
  countFor(userId: string): number {
    let count = 0;
    for (const request of this.#requests) if (request.userId === userId) count++;
    return count;
  }

  /**
   * Runs `prepare` for `userId` with a signal that aborts at shutdown (at once if shutdown has begun). The
   * request counts from this call until `prepare` settles.
   */
  async run<T>(userId: string, prepare: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    if (this.#stopped) controller.abort();
    let settle!: () => void;
    const entry: Preparing = { userId, controller, settled: new Promise((resolve) => (settle = resolve)) };
    this.#requests.add(entry);
    try {
      return await prepare(controller.signal);
    } finally {
      this.#requests.delete(entry);
      settle();
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

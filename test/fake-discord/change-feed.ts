/**
 * Everything observable in the fake (a request, a gateway event, a CDN download, a message edit) calls notify();
 * waitUntil re-evaluates its check on each notification instead of polling.
 */
export class ChangeFeed {
  readonly #listeners = new Set<() => void>();
  readonly #aborts = new Set<(error: Error) => void>();

  notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /** Resolves with the first value of `check` that is not undefined, null or false. */
  waitUntil<T>(
    check: () => T | undefined | null | false,
    timeoutMs: number,
    describe: () => string,
  ): Promise<T> {
    const first = check();
    if (first !== undefined && first !== null && first !== false) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
        this.#aborts.delete(abort);
      };
      const listener = (): void => {
        let value: T | undefined | null | false;
        try {
          value = check();
        } catch (error) {
          finish();
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        if (value === undefined || value === null || value === false) return;
        finish();
        resolve(value);
      };
      const abort = (error: Error): void => {
        finish();
        reject(error);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`fake Discord: timed out after ${timeoutMs} ms waiting for ${describe()}`));
      }, timeoutMs);
      this.#listeners.add(listener);
      this.#aborts.add(abort);
    });
  }

  /** Rejects every pending wait: the fake is closing. */
  close(): void {
    for (const abort of [...this.#aborts]) abort(new Error('fake Discord: closed while a test was still waiting'));
  }
}

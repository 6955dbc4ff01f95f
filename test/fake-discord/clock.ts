/**
 * The fake's notion of "now" for token lifetimes: the 3-second answer deadline, the 15-minute interaction token
 * window and the expiry of signed CDN links. It runs with real time plus an offset that tests move forward, so
 * `advance(16 * 60_000)` expires every interaction token at once while the bot under test keeps real time.
 */
export class FakeClock {
  #offsetMs = 0;

  now(): number {
    return Date.now() + this.#offsetMs;
  }

  /** Moves the fake's clock forward; negative values are refused because tokens never get younger. */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`clock.advance needs a finite ms >= 0, got ${ms}`);
    this.#offsetMs += ms;
  }

  get offsetMs(): number {
    return this.#offsetMs;
  }
}

import type { FinalState, OutcomeTotals } from './contract.ts';

const FINAL_STATES: readonly FinalState[] = ['completed', 'failed', 'cancelled'];

/** Counts of finished jobs by outcome, with the mean run time of those that had started. */
export class OutcomeStats {
  readonly #count: Record<FinalState, number> = { completed: 0, failed: 0, cancelled: 0 };
  readonly #timed: Record<FinalState, { n: number; sumMs: number }> = {
    completed: { n: 0, sumMs: 0 },
    failed: { n: 0, sumMs: 0 },
    cancelled: { n: 0, sumMs: 0 },
  };

  /** `durationMs` is undefined for jobs that ended before they started (cancelled while waiting). */
  record(state: FinalState, durationMs: number | undefined): void {
    this.#count[state]++;
    if (durationMs !== undefined) {
      this.#timed[state].n++;
      this.#timed[state].sumMs += durationMs;
    }
  }

  totals(): Record<FinalState, OutcomeTotals> {
    const out = {} as Record<FinalState, OutcomeTotals>;
    for (const state of FINAL_STATES) {
      const { n, sumMs } = this.#timed[state];
      out[state] = { count: this.#count[state], avgDurationMs: n === 0 ? undefined : Math.round(sumMs / n) };
    }
    return out;
  }
}

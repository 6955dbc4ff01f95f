import type { EngineJob, Failure, ResultInfo } from '../engine/protocol.ts';
import type { CancelledBy, FinalState, JobEvent, JobInput, Refusal } from './contract.ts';
import { timeoutFailure } from './messages.ts';

/**
 * The rules every StylizeQueue applies to one job, whether it runs in this process (LocalQueue) or on a worker
 * machine (RedisQueue and its consumer): how a request is clamped to the caps, what the engine is handed, how
 * long past its time limit an engine may take, and which final event an engine's outcome makes.
 */

/** What a runner (the worker pool, or a stand-in) ends a job with. */
export type RunOutcome =
  | { state: 'completed'; result: ResultInfo }
  | { state: 'failed'; failure: Failure }
  | { state: 'cancelled' };

export type FinalEvent = Extract<JobEvent, { type: FinalState }>;

/** Why the queue stopped a running job: a user's cancel, or the time limit's guard. */
export type StopReason = { kind: 'cancel'; by: CancelledBy } | { kind: 'timeout' };

/** Minimum smallest side of an output (the size option's own minimum is 64). */
export const MIN_SIZE = 64;

export function refuse(reason: Refusal['reason'], message: string): Refusal {
  return { accepted: false, reason, message };
}

export function clamp(value: number, min: number, max: number): number {
  if (!Number.isFinite(value)) throw new TypeError(`expected a finite number, got ${value}`);
  return Math.min(max, Math.max(min, Math.round(value)));
}

/** The output long side and iteration count a request may have under the caps. */
export function clampRequest(input: Pick<JobInput, 'size' | 'iterations'>, caps: { maxSize: number; maxIterations: number }): {
  size: number;
  iterations: number;
} {
  return {
    size: clamp(input.size, Math.min(MIN_SIZE, caps.maxSize), caps.maxSize),
    iterations: clamp(input.iterations, 1, caps.maxIterations),
  };
}

/** The engine's plain-data job: the inputs, the clamped iterations, the time limit and the preview interval. */
export function engineJob(
  id: string,
  input: Pick<JobInput, 'content' | 'styles' | 'preset' | 'settings' | 'resultMaxBytes'>,
  run: { iterations: number; timeLimitMs: number; previewEveryMs: number },
): EngineJob {
  return {
    id,
    content: input.content,
    styles: input.styles,
    ...(input.preset !== undefined && { preset: input.preset }),
    settings: { ...input.settings, iterations: run.iterations },
    timeLimitMs: run.timeLimitMs,
    previewEveryMs: run.previewEveryMs,
    resultMaxBytes: input.resultMaxBytes,
  };
}

/** How long past its time limit an engine may run before the queue stops it (it should stop itself first). */
export function defaultTimeoutSlackMs(timeoutMs: number): number {
  return Math.min(120_000, Math.max(5_000, Math.round(timeoutMs * 0.1)));
}

/** The one final event of a job the engine ended with `outcome`, after the queue stopped it for `stop` (if it did). */
export function finalEvent(stop: StopReason | undefined, outcome: RunOutcome, timeoutMs: number): FinalEvent {
  // A cancel wins over a result that raced it; a result that beat the timeout guard is still a result.
  if (stop?.kind === 'cancel') return { type: 'cancelled', by: stop.by };
  if (outcome.state === 'completed') return { type: 'completed', result: outcome.result };
  if (stop?.kind === 'timeout') return { type: 'failed', failure: timeoutFailure(timeoutMs) };
  if (outcome.state === 'failed') return { type: 'failed', failure: outcome.failure };
  // Cancelled with no reason of ours: the runner was closed under the job.
  return { type: 'cancelled', by: 'shutdown' };
}

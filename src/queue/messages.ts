import type { Failure } from '../engine/protocol.ts';

/** Every line the queue produces for users: short, kind, specific, no internals. */

/** `waiting` jobs are ahead in the line, so the refused job would have been number `waiting + 1`. */
export function queueFullMessage(waiting: number): string {
  const jobs = `${waiting} ${plural(waiting, 'job')}`;
  const place = ordinal(waiting + 1);
  return `The queue is full right now (${jobs} waiting, you would be ${place}). Please try again in a few minutes.`;
}

export function userLimitMessage(activeJobIds: readonly string[]): string {
  const [oldest] = activeJobIds;
  if (activeJobIds.length <= 1) {
    return `You already have a job in the queue (job ${oldest}). Please wait for it to finish or cancel it first.`;
  }
  return (
    `You already have ${activeJobIds.length} jobs in the queue (the oldest is job ${oldest}). ` +
    'Please wait for one to finish or cancel one first.'
  );
}

export function guildLimitMessage(cap: number): string {
  return `This server already has ${cap} ${plural(cap, 'job')} in the queue, its limit. Please try again when one has finished.`;
}

export function engineRestartingMessage(): string {
  return 'The engine is restarting. Please try again in a minute.';
}

/** Redis mode: Redis cannot be reached (the bot reconnects by itself). */
export const QUEUE_UNAVAILABLE_MESSAGE = 'The queue is unavailable right now. Please try again in a moment.';

/** Redis mode: the job took down every worker process that ran it (BullMQ's stalled-job limit). */
export const WORKER_DIED_TWICE_MESSAGE =
  'Your job stopped the engine twice, so it was not tried again. Please try other images or settings.';

/** Redis mode: the job waited for a worker longer than its images are kept (REDIS_DATA_TTL_HOURS). */
export function imagesExpiredMessage(ttlMs: number): string {
  return `Your job waited more than ${durationInWords(ttlMs)} for a free engine, and its images expired. Please ask again.`;
}

export const SHUTTING_DOWN_MESSAGE = 'The bot is restarting and is not taking new jobs. Please try again in a minute.';

export function timeoutMessage(timeoutMs: number): string {
  const limit = durationInWords(timeoutMs);
  return `Your job reached its time limit of ${limit} before it had an image to show, so it was stopped.`;
}

export function timeoutFailure(timeoutMs: number): Failure {
  return { code: 'timeout', message: timeoutMessage(timeoutMs) };
}

export const OUT_OF_MEMORY_MESSAGE =
  'The server ran out of memory for this image, even at a smaller size. Please try again with a smaller size.';

export function genericFailureMessage(jobId: string): string {
  return `Something went wrong while stylizing (job ${jobId}). The admin can find details in the log.`;
}

/** "90 seconds", "15 minutes", "2 hours" (rounded). */
export function durationInWords(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} ${plural(seconds, 'second')}`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes} ${plural(minutes, 'minute')}`;
  const hours = Math.round(minutes / 60);
  return `${hours} ${plural(hours, 'hour')}`;
}

/** 1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st, 22nd ... 111th. */
export function ordinal(n: number): string {
  const lastTwo = n % 100;
  const suffix =
    lastTwo >= 11 && lastTwo <= 13 ? 'th' : n % 10 === 1 ? 'st' : n % 10 === 2 ? 'nd' : n % 10 === 3 ? 'rd' : 'th';
  return `${n}${suffix}`;
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

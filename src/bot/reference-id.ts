import type { JobQueue } from '../queue/index.ts';
import { uniqueJobId } from '../queue/job-id.ts';

/**
 * The queue makes a job's id only when the job is submitted, after the download. A request gets this id from
 * its start instead, in the same format and never equal to a known job's, so that a failure before the queue
 * (and its log lines, as `jobId`) can still be named to the user.
 */
export function newReferenceId(queue: JobQueue): string {
  return uniqueJobId((id) => queue.get(id) !== undefined || queue.finished(id) !== undefined);
}

/** An error that escaped a request which already has an id, so that the router names it with that same id. */
export class RequestFailure extends Error {
  readonly jobId: string;

  constructor(jobId: string, cause: unknown) {
    super(`request ${jobId} failed`, { cause });
    this.name = 'RequestFailure';
    this.jobId = jobId;
  }
}

export { DEFAULT_ABORT_WAIT_MS, JobQueue } from './job-queue.ts';
export { Job } from './job.ts';
export { queueOptionsFromConfig } from './from-config.ts';
export { normalizeJobId } from './job-id.ts';
export type {
  CancelledBy,
  CancelResult,
  FailureKind,
  FinalState,
  FinishedJob,
  JobEventHandler,
  JobEventName,
  JobFailure,
  JobInputs,
  JobListener,
  JobOutcome,
  JobProgress,
  JobRequest,
  JobResult,
  JobState,
  LastProgress,
  OutcomeTotals,
  QueueOptions,
  QueueSnapshot,
  RefusalReason,
  RunningJobInfo,
  SubmitResult,
  WaitingJobInfo,
} from './types.ts';
export { queueFullMessage, userLimitMessage, SHUTTING_DOWN_MESSAGE } from './messages.ts';

import { isUserFacing } from '../errors/user-facing-error.ts';
import { encodeFinal, encodePreview } from '../images/index.ts';
import type { Logger } from '../log/logger.ts';
import type { JobListener, JobProgress, JobResult } from '../queue/index.ts';
import {
  cancelledMessage,
  completedMessage,
  failedMessage,
  progressMessage,
  queuedMessage,
  retryingMessage,
  startedMessage,
} from './job-messages.ts';
import type { JobReply } from './job-reply.ts';
import type { ReplyPayload } from './reply-payload.ts';

export interface JobListenerOptions {
  reply: JobReply;
  /** The job's id and its logger, known once submit() returns; events before that are shown by the caller. */
  state: { jobId: string; logger: Logger };
  /** The interaction's upload limit for the final image. */
  attachmentLimit: number;
  /** Notes from decoding (first frame used, enlarged ...) shown with the result. */
  notes: string[];
  /** Registers a final delivery so shutdown can wait for it. */
  track: (delivery: Promise<void>) => void;
}

/** Turns the queue's events for one job into edits of its public message. */
export function jobListenerFor(options: JobListenerOptions): JobListener {
  const { reply, state } = options;
  return {
    position: (position) => reply.show(queuedMessage(state.jobId, position)),
    started: (info) => reply.show(startedMessage(state.jobId, info)),
    retrying: (info) => reply.show(retryingMessage(state.jobId, info.size)),
    progress: (progress) => {
      if (reply.wantsProgress()) reply.showProgress(renderProgress(state.jobId, progress));
    },
    completed: (result) => options.track(deliverResult(options, result)),
    failed: (failure) => options.track(reply.finish(failedMessage(state.jobId, failure.message))),
    cancelled: (by) => options.track(reply.finish(cancelledMessage(state.jobId, by))),
  };
}

/** Takes the preview snapshot synchronously (as the engine requires), then encodes it off the hot path. */
async function renderProgress(jobId: string, progress: JobProgress): Promise<ReplyPayload> {
  const image = progress.preview();
  const view = { iteration: progress.iteration, total: progress.total, elapsedMs: progress.elapsedMs, etaMs: progress.etaMs };
  const preview = await encodePreview(image);
  return progressMessage(jobId, view, { data: preview.bytes, extension: preview.extension, mime: preview.mime });
}

async function deliverResult(options: JobListenerOptions, result: JobResult): Promise<void> {
  const { reply, state } = options;
  let payload: ReplyPayload;
  try {
    const encoded = await encodeFinal(result.image, options.attachmentLimit);
    const imageNote = [...options.notes, ...(encoded.note ? [encoded.note] : [])].join(' ') || undefined;
    payload = completedMessage(
      state.jobId,
      {
        width: result.image.width,
        height: result.image.height,
        iterations: result.iterations,
        seconds: result.durationMs / 1000,
        backend: result.backend,
        settings: result.settings,
        loss: result.loss,
        timedOut: result.timedOut,
        retriedAtSize: result.retriedAtSize,
        imageNote,
      },
      { data: encoded.bytes, extension: encoded.extension, mime: encoded.mime },
    );
  } catch (error) {
    state.logger.error({ err: error }, 'could not encode the result');
    const message = isUserFacing(error) ? error.userMessage : 'I could not encode the result image.';
    payload = failedMessage(state.jobId, message);
  }
  await reply.finish(payload);
}

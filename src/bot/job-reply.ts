import { DiscordAPIError, RESTJSONErrorCodes, Routes, type REST } from 'discord.js';
import type { Logger } from '../log/logger.ts';
import type { JobEvent, JobRef } from '../queue/contract.ts';
import {
  cancelledMessage,
  completedMessage,
  failedMessage,
  progressMessage,
  queuedMessage,
  retryingMessage,
  startedMessage,
  toRestMessage,
  type JobAbout,
  type ReplyPayload,
} from './job-messages.ts';
import { remixControls } from './remix.ts';

/** Interaction tokens live 15 minutes; switch routes a little before, so no edit races the expiry. */
export const INTERACTION_TOKEN_LIFETIME_MS = 15 * 60 * 1000;
const TOKEN_SAFETY_MARGIN_MS = 30 * 1000;

/**
 * Where a job's messages go: plain data stored with the job (in Redis too), so that any bot process, including
 * one started after a restart, can keep editing the same message.
 */
export interface Delivery {
  applicationId: string;
  /** Undefined when the message was posted through the channel (a reply to a member's message): no webhook edits. */
  interactionToken: string | undefined;
  /** When Discord issued the token (the interaction's creation time). */
  tokenIssuedAt: number;
  channelId: string;
  /** The public reply's message id, for editing it after the token has expired. */
  messageId: string | undefined;
  userId: string;
  /** Notes from decoding (first frame used, enlarged …), shown with the result. */
  notes: string[];
  /** What the request was (styles, options, a heading); absent on jobs submitted before it existed. */
  about?: JobAbout;
}

export interface JobReplyOptions extends Delivery {
  rest: REST;
  minProgressIntervalMs: number;
  logger: Logger;
  now?: () => number;
}

/**
 * Owns one job's public message. Edits go out one at a time and the newest state wins, so a slow or
 * rate-limited edit never reorders or piles up. Progress edits are throttled and may be dropped; state edits
 * are not; the final result is delivered even after the interaction token has expired, through the
 * channel-message route or, failing that, a new message that mentions the requester.
 */
export class JobReply {
  readonly #options: JobReplyOptions;
  readonly #now: () => number;
  #logger: Logger;
  #pending: ReplyPayload | Promise<ReplyPayload> | undefined;
  #inFlight: Promise<void> | undefined;
  #lastEditAt = 0;
  #finished = false;
  #webhookUsable = true;

  constructor(options: JobReplyOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
  }

  /** Once the queue has named the job, its log lines carry that id. */
  useLogger(logger: Logger): void {
    this.#logger = logger;
  }

  /** A state change (queued, position, started, ...): sent as soon as the previous edit is done. */
  show(payload: ReplyPayload): void {
    if (this.#finished) return;
    this.#pending = payload;
    this.#pump();
  }

  /** True when a progress edit would go out now; check before rendering a preview. */
  wantsProgress(): boolean {
    return (
      !this.#finished &&
      this.#inFlight === undefined &&
      this.#pending === undefined &&
      this.#now() - this.#lastEditAt >= this.#options.minProgressIntervalMs
    );
  }

  /** A progress edit whose payload (with its preview) is still being rendered. */
  showProgress(payload: Promise<ReplyPayload>): void {
    if (!this.wantsProgress()) {
      payload.catch(() => undefined);
      return;
    }
    this.#pending = payload;
    this.#pump();
  }

  /** The last word: waits for any edit in flight, then delivers with fallbacks. Never throws. */
  async finish(payload: ReplyPayload): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    this.#pending = undefined;
    await this.#inFlight;
    try {
      await this.#deliver(payload, true);
    } catch (error) {
      this.#logger.error({ err: error }, 'could not deliver the final message');
    }
  }

  /** No more edits, for a reply the caller deletes; waits for an edit in flight. */
  async stop(): Promise<void> {
    this.#finished = true;
    this.#pending = undefined;
    await this.#inFlight;
  }

  #pump(): void {
    if (this.#inFlight) return;
    const next = this.#pending;
    if (next === undefined) return;
    this.#pending = undefined;
    this.#inFlight = (async () => {
      try {
        await this.#deliver(await next, false);
      } catch (error) {
        this.#logger.warn({ err: error }, 'a progress edit failed; the job goes on');
      } finally {
        this.#lastEditAt = this.#now();
        this.#inFlight = undefined;
        if (!this.#finished) this.#pump();
      }
    })();
  }

  async #deliver(payload: ReplyPayload, final: boolean): Promise<void> {
    const { rest, applicationId, interactionToken, channelId, messageId, userId } = this.#options;
    const heading = this.#options.about?.heading;
    if (heading) payload = { ...payload, content: `${heading}\n${payload.content}` };
    if (interactionToken && this.#webhookUsable && this.#tokenFresh()) {
      try {
        const { body, files } = toRestMessage(payload);
        await rest.patch(Routes.webhookMessage(applicationId, interactionToken, '@original'), { body, files, auth: false });
        return;
      } catch (error) {
        if (!isExpiredToken(error)) throw error;
        this.#webhookUsable = false;
        this.#logger.info('interaction token expired; editing through the channel instead');
      }
    }
    if (messageId) {
      try {
        const { body, files } = toRestMessage(payload);
        await rest.patch(Routes.channelMessage(channelId, messageId), { body, files });
        return;
      } catch (error) {
        if (!final) throw error;
        this.#logger.warn({ err: error }, 'could not edit the original message; posting a new one');
      }
    }
    if (!final) return;
    const { body, files } = toRestMessage({ ...payload, cancelJobId: undefined }, { userId });
    await rest.post(Routes.channelMessages(channelId), { body, files });
  }

  #tokenFresh(): boolean {
    return this.#now() - this.#options.tokenIssuedAt < INTERACTION_TOKEN_LIFETIME_MS - TOKEN_SAFETY_MARGIN_MS;
  }
}

function isExpiredToken(error: unknown): boolean {
  return (
    error instanceof DiscordAPIError &&
    (error.code === RESTJSONErrorCodes.InvalidWebhookToken ||
      error.code === RESTJSONErrorCodes.UnknownWebhook ||
      error.status === 401)
  );
}

export interface JobMessagesOptions {
  rest: REST;
  minProgressIntervalMs: number;
  logger: Logger;
}

/**
 * The queue's event sink: turns every job's events into edits of its public message. A job whose reply this
 * process has not seen (the bot restarted, or another bot process submitted it) gets one from its delivery info.
 */
export class JobMessages {
  readonly #replies = new Map<string, JobReply>();
  readonly #options: JobMessagesOptions;

  constructor(options: JobMessagesOptions) {
    this.#options = options;
  }

  /** The reply of a request not yet in the queue (downloading), kept for the job's events under its id. */
  open(jobId: string, delivery: Delivery, logger: Logger): JobReply {
    const reply = new JobReply({ ...this.#options, ...delivery, logger });
    this.#replies.set(jobId, reply);
    return reply;
  }

  /** Forgets a reply whose request never reached the queue. */
  close(jobId: string): void {
    this.#replies.delete(jobId);
  }

  readonly sink = (job: JobRef<Delivery>, event: JobEvent): void | Promise<void> => {
    const reply = this.#replies.get(job.jobId) ?? this.open(job.jobId, job.delivery, this.#options.logger.child({ jobId: job.jobId }));
    const { jobId } = job;
    switch (event.type) {
      case 'queued':
      case 'position':
        return reply.show(queuedMessage(jobId, event.position));
      case 'started':
        return reply.show(startedMessage(jobId, event));
      case 'retrying':
        return reply.show(retryingMessage(jobId, event.size));
      case 'progress':
        // Edits carry a preview, so that the picture never disappears; the worker attaches one often enough.
        if (event.preview && reply.wantsProgress()) reply.showProgress(Promise.resolve(progressMessage(jobId, event, event.preview)));
        return;
      case 'completed': {
        const remix = remixControls(jobId, event.result, job.delivery.about);
        return this.#finish(jobId, reply, completedMessage(jobId, event.result, job.delivery, remix));
      }
      case 'failed':
        return this.#finish(jobId, reply, failedMessage(jobId, event.failure.message));
      case 'cancelled':
        return this.#finish(jobId, reply, cancelledMessage(jobId, event.by));
    }
  };

  async #finish(jobId: string, reply: JobReply, payload: ReplyPayload): Promise<void> {
    this.#replies.delete(jobId);
    await reply.finish(payload);
  }
}

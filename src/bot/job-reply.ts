import { DiscordAPIError, RESTJSONErrorCodes, Routes, type REST } from 'discord.js';
import type { Logger } from '../log/logger.ts';
import { toRestMessage, type ReplyPayload } from './reply-payload.ts';

/** Interaction tokens live 15 minutes; switch routes a little before, so no edit races the expiry. */
export const INTERACTION_TOKEN_LIFETIME_MS = 15 * 60 * 1000;
const TOKEN_SAFETY_MARGIN_MS = 30 * 1000;

export interface JobReplyOptions {
  rest: REST;
  applicationId: string;
  interactionToken: string;
  /** When Discord issued the token (the interaction's creation time). */
  tokenIssuedAt: number;
  channelId: string;
  /** The public reply's message id, for editing it after the token has expired. */
  messageId: string | undefined;
  userId: string;
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
    if (this.#webhookUsable && this.#tokenFresh()) {
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

import type { REST } from 'discord.js';
import type { Config } from '../config/index.ts';
import type { BackendInfo } from '../engine/types.ts';
import type { Logger } from '../log/logger.ts';
import type { JobQueue } from '../queue/index.ts';
import type { PreparingRequests } from './preparing-requests.ts';

/** What command handlers get: the running bot's parts, never globals. */
export interface BotContext {
  config: Config;
  queue: JobQueue;
  rest: REST;
  logger: Logger;
  backend: BackendInfo;
  /** Requests between "accepted" and "in the queue" (downloading, decoding): they count against the queue's
   * limits, and shutdown stops them. */
  preparing: PreparingRequests;
  /** Final messages still being delivered; shutdown waits for them. */
  deliveries: Set<Promise<void>>;
}

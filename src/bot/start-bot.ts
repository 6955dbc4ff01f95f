import { once } from 'node:events';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import type { Config } from '../config/index.ts';
import { createEngine } from '../engine/index.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { JobQueue, queueOptionsFromConfig } from '../queue/index.ts';
import { resolveWeights, type VggWeights } from '../weights/index.ts';
import type { BotContext } from './bot-context.ts';
import { loadCommands } from './command-loader.ts';
import { createInteractionHandler } from './interaction-router.ts';
import { allDelivered, DELIVERY_WAIT_MS } from './deliveries.ts';
import { PreparingRequests } from './preparing-requests.ts';
import { registerCommands } from './register-commands.ts';

export interface BotDependencies {
  logger?: Logger;
  /** Weights already in memory; otherwise they are resolved from the config (and downloaded if need be). */
  weights?: VggWeights;
}

export interface RunningBot {
  client: Client;
  context: BotContext;
  /** Graceful shutdown: no new jobs, the running one gets its grace period, queued users are told. */
  stop(): Promise<void>;
}

/**
 * Start-up in the order that fails fastest and clearest: weights (refuse to start if bad) → backend → engine
 * and queue → commands → login. Anything that throws here stops the bot before it is visible to users.
 */
export async function startBot(config: Config, dependencies: BotDependencies = {}): Promise<RunningBot> {
  const token = config.discord.token;
  if (!token) throw new Error('DISCORD_TOKEN is missing');
  const logger =
    dependencies.logger ??
    createLogger({ level: config.log.level, format: config.log.format, secrets: [token.reveal()] });

  const weights = dependencies.weights ?? (await resolveWeights(config.weights, { logger }));
  const engine = await createEngine(weights, { backend: config.engine.backend, threads: config.engine.threads, logger });
  const backend = engine.backend;
  const queue = new JobQueue(queueOptionsFromConfig(config, engine.stylize, { logger, backendName: backend.name }));
  const commands = await loadCommands(config);

  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: config.discord.apiUrl } });
  const context: BotContext = {
    config,
    queue,
    rest: client.rest,
    logger,
    backend,
    preparing: new PreparingRequests(),
    deliveries: new Set(),
  };
  const handle = createInteractionHandler(commands, context);
  client.on(Events.InteractionCreate, (interaction) => void handle(interaction));
  client.on(Events.Error, (error) => logger.error({ err: error }, 'discord client error'));
  client.on(Events.ShardDisconnect, (event) => logger.warn({ code: event.code }, 'gateway disconnected'));
  client.on(Events.ShardResume, () => logger.info('gateway resumed'));

  try {
    const ready = once(client, Events.ClientReady);
    await client.login(token.reveal());
    await ready;
    if (config.discord.registerCommandsOnStart) {
      const applicationId = config.discord.applicationId ?? client.application?.id;
      const result = await registerCommands(client.rest, { ...config, discord: { ...config.discord, applicationId } }, commands);
      logger.info({ scope: result.scope, commands: result.names }, 'slash commands registered');
    }
  } catch (error) {
    await client.destroy();
    void engine.dispose();
    throw error;
  }

  logger.info(
    {
      user: client.user?.tag,
      backend: backend.name,
      gpu: backend.gpu,
      weights: weights.source,
      maxSize: config.images.maxSize,
      maxIterations: config.jobs.maxIterations,
      maxQueue: config.queue.maxQueue,
      concurrency: config.engine.workers ?? 1,
    },
    `ready as ${client.user?.tag ?? 'bot'}: backend ${backend.name}${backend.gpu ? ' (GPU)' : ''}, weights ${weights.source}, ` +
      `max ${config.images.maxSize} px / ${config.jobs.maxIterations} iterations, queue ${config.queue.maxQueue}`,
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info(
        { preparing: context.preparing.size },
        'shutting down: no new jobs; the running job gets its grace period',
      );
      const queueStopped = queue.shutdown();
      // Requests still downloading are not in the queue yet; they stop now and tell their users.
      context.preparing.stopAll();
      await queueStopped;
      await settleWithin(
        context.preparing.idle().then(() => allDelivered(context.deliveries)),
        DELIVERY_WAIT_MS,
      );
      await client.destroy();
      // Not awaited: an engine still stuck in a cancelled run must not hold up the shutdown.
      void engine.dispose();
      logger.info('shut down cleanly');
    })());
  return { client, context, stop };
}

async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

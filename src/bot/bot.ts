import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  ApplicationCommandType,
  Client,
  Events,
  GatewayIntentBits,
  MessageFlags,
  Routes,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type MessageContextMenuCommandInteraction,
  type REST,
  type RESTGetCurrentApplicationResult,
  type RESTPostAPIApplicationCommandsJSONBody,
} from 'discord.js';
import type { Config } from '../config/index.ts';
import { isUserFacing } from '../errors/user-facing-error.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { EXIT_MARGIN_MS } from '../log/shutdown-signals.ts';
import type { StylizeQueue } from '../queue/contract.ts';
import { createStylizeQueue, STOP_TIMEOUT_MS, type QueueDependencies } from '../queue/index.ts';
import { randomJobId } from '../queue/job-id.ts';
import { openDatabase, type Db } from './database.ts';
import { CANCEL_PREFIX, INTERNAL_ERROR_TEXT, REMIX_PREFIX, STYLE_PICK_PREFIX } from './job-messages.ts';
import { JobMessages, type Delivery } from './job-reply.ts';
import { KeptInputs } from './kept-inputs.ts';
import { handleRemixButton } from './remix.ts';
import { StyleLibrary } from './style-library.ts';
import { handleCancelButton, Preparations, RequestFailure } from './stylize-flow.ts';
import { handleStylePick, PendingPicks } from './stylize-this-image.ts';

/**
 * The Discord side of the bot: start-up, the command modules, routing interactions, shutdown. Everything heavy
 * happens elsewhere (the queue's engine workers); this process only talks.
 */

/** What command handlers get: the running bot's parts, never globals. */
export interface BotContext {
  config: Config;
  queue: StylizeQueue<Delivery>;
  rest: REST;
  logger: Logger;
  /** Every job's public message, kept up to date from the queue's events. */
  messages: JobMessages;
  /** Requests downloading their images; shutdown stops them. */
  preparing: Preparations;
  /** The gallery and each server's saved styles. */
  styles: StyleLibrary;
  /** Inputs of recent jobs, for their remix buttons. */
  kept: KeptInputs;
  /** "Stylize this image" menus waiting for a choice. */
  picks: PendingPicks;
}

/**
 * The shape of every module in commands/, as in the discord.js guide: `data` describes the command (a function of
 * the config because option ranges follow the server's limits), `execute` runs it, and `autocomplete`, when the
 * command has options that suggest values, answers what a member is typing.
 */
export interface CommandModule {
  data(config: Config): { name: string; toJSON(): RESTPostAPIApplicationCommandsJSONBody };
  execute(interaction: ChatInputCommandInteraction | MessageContextMenuCommandInteraction, context: BotContext): Promise<void>;
  autocomplete?(interaction: AutocompleteInteraction, context: BotContext): Promise<void>;
}

export const COMMANDS_DIR = fileURLToPath(new URL('../../commands/', import.meta.url));

/** Loads every command module in commands/, keyed by command name. A file that is not a command is an error. */
export async function loadCommands(config: Config, dir = COMMANDS_DIR): Promise<Map<string, CommandModule>> {
  const files = (await readdir(dir)).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).sort();
  const commands = new Map<string, CommandModule>();
  for (const file of files) {
    const module = (await import(pathToFileURL(path.join(dir, file)).href)) as Partial<CommandModule>;
    if (typeof module.data !== 'function' || typeof module.execute !== 'function') {
      throw new Error(`${file} in commands/ does not export data() and execute()`);
    }
    const name = module.data(config).name;
    if (commands.has(name)) throw new Error(`two command modules define /${name}`);
    commands.set(name, module as CommandModule);
  }
  return commands;
}

/** Registers (overwrites) the slash commands: in DISCORD_GUILD_ID when set (instant), globally otherwise. */
export async function registerCommands(
  rest: REST,
  config: Config,
  commands: ReadonlyMap<string, CommandModule>,
): Promise<{ scope: 'guild' | 'global'; guildId: string | undefined; names: string[]; labels: string[] }> {
  const applicationId =
    config.discord.applicationId ?? ((await rest.get(Routes.currentApplication())) as RESTGetCurrentApplicationResult).id;
  const body = [...commands.values()].map((command) => command.data(config).toJSON());
  const guildId = config.discord.guildId;
  const route = guildId ? Routes.applicationGuildCommands(applicationId, guildId) : Routes.applicationCommands(applicationId);
  await rest.put(route, { body });
  // How members reach each one: `/stylize`, or “Stylize this image” in a message's Apps menu.
  const labels = body.map((c) => (c.type === ApplicationCommandType.Message ? `“${c.name}” (on messages)` : `/${c.name}`));
  return { scope: guildId ? 'guild' : 'global', guildId, names: body.map((c) => c.name), labels };
}

export interface BotDependencies extends QueueDependencies {
  logger?: Logger;
}

export interface RunningBot {
  client: Client;
  context: BotContext;
  /** Graceful shutdown: no new jobs, running ones get their grace period, waiting users are told. */
  stop(): Promise<void>;
}

/** How long shutdown waits for final messages to reach Discord once the queue has stopped. */
export const DELIVERY_WAIT_MS = 10_000;

/** How often kept inputs past their retention are deleted (each new job also triggers a sweep). */
const SWEEP_INTERVAL_MS = 10 * 60 * 1000;

/**
 * Start-up in the order that fails fastest and clearest: the data folder and its database → the queue (its engine
 * workers load the weights and refuse to start on bad ones) → commands → login. Anything that throws here stops
 * the bot before users see it.
 */
export async function startBot(config: Config, dependencies: BotDependencies = {}): Promise<RunningBot> {
  const token = config.discord.token;
  if (!token) throw new Error('DISCORD_TOKEN is missing');
  const logger =
    dependencies.logger ?? createLogger({ level: config.log.level, format: config.log.format, secrets: [token.reveal()] });

  const db = openDatabase(config.data.dir);
  const kept = new KeptInputs(db, {
    dir: path.join(config.data.dir, 'kept'),
    retentionMs: config.data.remixRetentionMs,
    maxBytes: config.data.remixMaxBytes,
    logger,
  });
  const strays = kept.removeStrayFiles();
  const usage = kept.sweep();
  logger.info({ dataDir: config.data.dir, strays, ...usage }, 'data folder ready');
  const sweeper = setInterval(() => {
    try {
      kept.sweep();
    } catch (error) {
      logger.warn({ err: error }, 'could not sweep the kept inputs');
    }
  }, SWEEP_INTERVAL_MS).unref();
  const closeData = (d: Db) => {
    clearInterval(sweeper);
    d.close();
  };

  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: config.discord.apiUrl } });
  const messages = new JobMessages({ rest: client.rest, minProgressIntervalMs: config.bot.progressIntervalMs, logger });
  let queue: StylizeQueue<Delivery>;
  try {
    queue = await createStylizeQueue<Delivery>(config, { ...dependencies, logger });
  } catch (error) {
    closeData(db);
    throw error;
  }
  const context: BotContext = {
    config,
    queue,
    rest: client.rest,
    logger,
    messages,
    preparing: new Preparations(),
    styles: new StyleLibrary(db, { maxPerServer: config.data.maxStylesPerServer }),
    kept,
    picks: new PendingPicks(),
  };
  try {
    await queue.start(messages.sink);
  } catch (error) {
    await queue.shutdown().catch(() => undefined);
    closeData(db);
    throw error;
  }
  const commands = await loadCommands(config);
  const handle = routeInteractions(commands, context);
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
    await queue.shutdown().catch(() => undefined);
    closeData(db);
    throw error;
  }

  const { workers } = await queue.snapshot();
  const backends = [...new Set(workers.map((w) => `${w.backend.name}${w.backend.gpu ? ' (GPU)' : ''}`))].join(', ');
  logger.info(
    {
      user: client.user?.tag,
      workers: workers.length,
      backends,
      maxSize: config.images.maxSize,
      maxIterations: config.jobs.maxIterations,
      maxQueue: config.queue.maxQueue,
    },
    `ready as ${client.user?.tag ?? 'bot'}: ${workers.length} engine worker(s) on ${backends || 'no backend yet'}, ` +
      `max ${config.images.maxSize} px / ${config.jobs.maxIterations} iterations, queue ${config.queue.maxQueue}`,
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info({ preparing: context.preparing.size }, 'shutting down: no new jobs; running jobs get their grace period');
      // Requests still downloading are not in the queue yet; they stop now and tell their users.
      await Promise.all([queue.shutdown(), settleWithin(context.preparing.stopAll(), DELIVERY_WAIT_MS)]);
      await client.destroy();
      closeData(db);
      logger.info('shut down cleanly');
    })());
  return { client, context, stop };
}

/** Sends each interaction to its command, autocomplete, button or menu handler; nothing a handler throws escapes. */
export function routeInteractions(
  commands: ReadonlyMap<string, CommandModule>,
  context: BotContext,
): (interaction: Interaction) => Promise<void> {
  return async (interaction) => {
    try {
      if (interaction.isChatInputCommand() || interaction.isMessageContextMenuCommand()) {
        const command = commands.get(interaction.commandName);
        if (!command) {
          await interaction.reply({ content: 'I do not know that command any more.', flags: MessageFlags.Ephemeral });
          return;
        }
        await command.execute(interaction, context);
      } else if (interaction.isAutocomplete()) {
        const command = commands.get(interaction.commandName);
        await (command?.autocomplete ? command.autocomplete(interaction, context) : interaction.respond([]));
      } else if (interaction.isButton() && interaction.customId.startsWith(CANCEL_PREFIX)) {
        await handleCancelButton(interaction, context);
      } else if (interaction.isButton() && interaction.customId.startsWith(REMIX_PREFIX)) {
        await handleRemixButton(interaction, context);
      } else if (interaction.isStringSelectMenu() && interaction.customId.startsWith(STYLE_PICK_PREFIX)) {
        await handleStylePick(interaction, context);
      }
    } catch (thrown) {
      // The id shown to the user, and under which the log has the detail.
      const { jobId, error } =
        thrown instanceof RequestFailure ? { jobId: thrown.jobId, error: thrown.cause } : { jobId: randomJobId(), error: thrown };
      context.logger.error({ err: error, jobId, interaction: interaction.id }, 'interaction handler failed');
      if (!interaction.isRepliable()) return;
      const content = `${isUserFacing(error) ? error.userMessage : INTERNAL_ERROR_TEXT} · job \`${jobId}\``;
      try {
        if (interaction.replied || interaction.deferred) await interaction.followUp({ content, flags: MessageFlags.Ephemeral });
        else await interaction.reply({ content, flags: MessageFlags.Ephemeral });
      } catch {
        // The interaction may have expired; the log already has the detail.
      }
    }
  };
}

/**
 * The longest a graceful shutdown of the bot can take: the running jobs' grace period, then the wait for a worker
 * to stop after its cancel (it is killed then), then the wait for final messages, plus a margin.
 */
export function shutdownDeadlineMs(graceMs: number): number {
  return graceMs + STOP_TIMEOUT_MS + DELIVERY_WAIT_MS + EXIT_MARGIN_MS;
}

async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

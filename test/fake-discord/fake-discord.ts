import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIAttachment, APIEmbed, APIGuildTextChannel, APIRole, APIUser, ChannelType } from 'discord.js';
import { FakeCdn } from './cdn.ts';
import { ChangeFeed } from './change-feed.ts';
import { FakeClock } from './clock.ts';
import { CommandStore } from './commands.ts';
import { FakeGateway } from './gateway.ts';
import { InteractionStore } from './interaction-store.ts';
import { FakeInteractions } from './interactions.ts';
import { MessageStore, type StoredMessage } from './message-store.ts';
import { RequestLog, type RecordedRequest, type RequestPredicate } from './request-log.ts';
import type { RestDeps } from './rest-deps.ts';
import { RestFaults } from './rest-faults.ts';
import { handleRest, type RestServerOptions } from './rest-server.ts';
import { basicRoutes } from './routes-basic.ts';
import { channelRoutes } from './routes-channels.ts';
import { commandRoutes } from './routes-commands.ts';
import { interactionRoutes } from './routes-interactions.ts';
import { createSnowflakes } from './snowflake.ts';
import { TimerSet } from './timers.ts';
import { BOT_PERMISSIONS, World, type WorldOptions } from './world.ts';

const MiB = 1024 * 1024;

export interface FakeDiscordOptions {
  /** The bot token the fake accepts; default: a random, valid-looking one. */
  token?: string;
  /** HELLO's heartbeat_interval; default 41250 like Discord. */
  heartbeatIntervalMs?: number;
  /** Time to send the initial interaction response; default 3000 ms like Discord. */
  responseDeadlineMs?: number;
  /** Lifetime of an acknowledged interaction token; default 15 minutes like Discord. */
  tokenLifetimeMs?: number;
  /** `attachment_size_limit` of interactions and the upload limit of channel routes; default 10 MiB. */
  attachmentSizeLimit?: number;
  /** Informational X-RateLimit-* headers on successful answers; default true. */
  rateLimitHeaders?: boolean;
  /** CDN links need Discord's ex/is/hm signature and expire after 24 h (fake clock); default true. */
  requireSignedCdnUrls?: boolean;
  /** Privileged intents enabled for the application (bitmask); others are refused with close code 4014. */
  enabledPrivilegedIntents?: number;
  /** Requests above this many bytes get 413 / 40005; default 110 MiB. */
  maxRequestBytes?: number;
  world?: WorldOptions;
}

/** A fake Discord on 127.0.0.1: REST under /api/v10, the gateway WebSocket and the attachment CDN. */
export class FakeDiscord {
  /** `http://127.0.0.1:PORT`: REST, gateway and CDN share it. */
  readonly origin: string;
  /** Give discord.js `rest: { api: fake.apiUrl }` (the bot: DISCORD_API_URL). */
  readonly apiUrl: string;
  /** The attachment host as the bot sees it (`127.0.0.1:PORT`), for its allow-list. */
  readonly cdnHost: string;
  /** A second server on another port that serves the same files: "another host" for redirect tests. */
  readonly foreignOrigin: string;
  readonly token: string;
  readonly clock: FakeClock;
  readonly gateway: FakeGateway;
  readonly interactions: FakeInteractions;
  readonly cdn: FakeCdn;
  readonly messages: MessageStore;
  readonly commands: CommandStore;
  readonly faults: RestFaults;
  /** Exceptions thrown inside the fake's handlers (answered with 500); should stay empty. */
  readonly internalErrors: Error[];

  readonly #world: World;
  readonly #log: RequestLog;
  readonly #feed: ChangeFeed;
  readonly #timers: TimerSet;
  readonly #servers: Server[];
  #closing: Promise<void> | undefined;

  private constructor(parts: {
    origin: string;
    foreignOrigin: string;
    token: string;
    clock: FakeClock;
    world: World;
    gateway: FakeGateway;
    interactions: FakeInteractions;
    cdn: FakeCdn;
    messages: MessageStore;
    commands: CommandStore;
    faults: RestFaults;
    log: RequestLog;
    feed: ChangeFeed;
    timers: TimerSet;
    servers: Server[];
    internalErrors: Error[];
  }) {
    this.origin = parts.origin;
    this.apiUrl = `${parts.origin}/api`;
    this.cdnHost = new URL(parts.origin).host;
    this.foreignOrigin = parts.foreignOrigin;
    this.token = parts.token;
    this.clock = parts.clock;
    this.gateway = parts.gateway;
    this.interactions = parts.interactions;
    this.cdn = parts.cdn;
    this.messages = parts.messages;
    this.commands = parts.commands;
    this.faults = parts.faults;
    this.internalErrors = parts.internalErrors;
    this.#world = parts.world;
    this.#log = parts.log;
    this.#feed = parts.feed;
    this.#timers = parts.timers;
    this.#servers = parts.servers;
  }

  static async start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const feed = new ChangeFeed();
    const clock = new FakeClock();
    const timers = new TimerSet();
    const nextId = createSnowflakes();
    const world = new World(nextId, options.world);
    const token = options.token ?? makeBotToken(world.applicationId);
    const cdn = new FakeCdn(nextId, clock, timers, feed, world.defaultChannelId, options.requireSignedCdnUrls ?? true);
    const messages = new MessageStore(nextId, cdn, world, feed);
    const commands = new CommandStore(nextId, world.applicationId);
    const store = new InteractionStore(clock, {
      responseDeadlineMs: options.responseDeadlineMs ?? 3000,
      tokenLifetimeMs: options.tokenLifetimeMs ?? 15 * 60_000,
    });
    const gateway = new FakeGateway({
      token,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 41_250,
      enabledPrivilegedIntents: options.enabledPrivilegedIntents ?? 0,
      world,
      feed,
      nextSessionId: () => randomBytes(16).toString('hex'),
    });
    const log = new RequestLog(feed);
    const attachmentSizeLimit = options.attachmentSizeLimit ?? 10 * MiB;
    const interactions = new FakeInteractions({
      world,
      store,
      commands,
      messages,
      log,
      feed,
      nextId,
      attachmentSizeLimit,
      dispatch: (event, data) => gateway.dispatch(event, data),
    });
    const faults = new RestFaults();
    const internalErrors: Error[] = [];
    const deps: RestDeps = {
      world,
      commands,
      messages,
      interactions: store,
      cdn,
      attachmentSizeLimit,
      gatewayUrl: () => gateway.url,
      sessionStartLimit: () => ({
        total: 1000,
        remaining: Math.max(0, 1000 - gateway.identifies().length),
        reset_after: 86_400_000,
        max_concurrency: 1,
      }),
    };
    const rest: RestServerOptions = {
      routes: [...basicRoutes(deps), ...commandRoutes(deps), ...interactionRoutes(deps), ...channelRoutes(deps)],
      token,
      log,
      faults,
      timers,
      rateLimitHeaders: options.rateLimitHeaders ?? true,
      maxRequestBytes: options.maxRequestBytes ?? 110 * MiB,
      internalErrors,
    };

    const main = createServer((req, res) => routeMain(req, res, rest, cdn, internalErrors));
    main.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
      if (!gateway.handleUpgrade(req, socket, head)) socket.destroy();
    });
    const foreign = createServer((req, res) => {
      if (!cdn.handle(req, res, 'foreign')) notFound(res);
    });
    const [port, foreignPort] = await Promise.all([listen(main), listen(foreign)]);
    const origin = `http://127.0.0.1:${port}`;
    cdn.origin = origin;
    cdn.foreignOrigin = `http://127.0.0.1:${foreignPort}`;
    gateway.origin = `ws://127.0.0.1:${port}`;

    return new FakeDiscord({
      origin,
      foreignOrigin: cdn.foreignOrigin,
      token,
      clock,
      world,
      gateway,
      interactions,
      cdn,
      messages,
      commands,
      faults,
      log,
      feed,
      timers,
      servers: [main, foreign],
      internalErrors,
    });
  }

  get applicationId(): string {
    return this.#world.applicationId;
  }

  get botUser(): APIUser {
    return this.#world.botUser;
  }

  /** The user who runs commands unless a test names another. */
  get user(): APIUser {
    return this.#world.defaultUser;
  }

  get guild(): { id: string; name: string } {
    return { id: this.#world.guildId, name: this.#world.guildName };
  }

  /** The guild's text channel where interactions happen by default. */
  get channel(): APIGuildTextChannel<ChannelType.GuildText> {
    return this.#world.channels.get(this.#world.defaultChannelId)!.data;
  }

  /** Every REST request so far, in the order answered. */
  get requests(): readonly RecordedRequest[] {
    return this.#log.all();
  }

  /** Requests to a route key, e.g. `requestsTo('PATCH', '/webhooks/:app/:token/messages/@original')`. */
  requestsTo(method: string, route: string): RecordedRequest[] {
    return this.#log.to(method, route);
  }

  /** The first request (already made or still to come) that matches. */
  waitFor(predicate: RequestPredicate, timeoutMs = 5000): Promise<RecordedRequest> {
    return this.#log.waitFor(predicate, timeoutMs);
  }

  /** Re-checks `check` whenever anything in the fake changes; resolves with its first truthy value. */
  waitUntil<T>(check: () => T | undefined | null | false, timeoutMs = 5000, description = 'a condition'): Promise<T> {
    return this.#feed.waitUntil(check, timeoutMs, () => description);
  }

  /** Resolves once the gateway has sent READY (`count` times in all). */
  waitForReady(options: { count?: number; timeoutMs?: number } = {}): Promise<void> {
    return this.gateway.waitForReady(options);
  }

  /** Registers a guild member to run commands as (`slashCommand({ user })` also accepts a partial user). */
  addUser(username: string, overrides: Partial<APIUser> = {}): APIUser {
    return this.#world.makeUser(username, overrides);
  }

  /**
   * A message a member posts (no gateway event: the bot has only the Guilds intent). Attachments come from
   * `fake.cdn.add(bytes, { ephemeral: false })`; embeds may carry an `image` or `thumbnail` from anywhere.
   */
  postMessage(options: {
    user?: Partial<APIUser>;
    channelId?: string;
    content?: string;
    attachments?: APIAttachment[];
    embeds?: APIEmbed[];
  }): StoredMessage {
    return this.messages.addMemberMessage({
      channelId: options.channelId ?? this.#world.defaultChannelId,
      author: this.#world.resolveUser(options.user),
      content: options.content ?? '',
      attachments: options.attachments ?? [],
      embeds: options.embeds ?? [],
    });
  }

  /** Adds a role to the guild (announced with GUILD_ROLE_CREATE when a session is live); give it to members with `member: { roles: [id] }`. */
  addRole(name: string, permissions = 0n): APIRole {
    const role = this.#world.addRole(name, permissions);
    if (this.gateway.sessionId) this.gateway.dispatch('GUILD_ROLE_CREATE', { guild_id: this.#world.guildId, role });
    return role;
  }

  /** Adds a text channel to the guild (announced with CHANNEL_CREATE when a session is live). */
  addChannel(name: string, options: { botPermissions?: bigint } = {}): APIGuildTextChannel<ChannelType.GuildText> {
    const channel = this.#world.addChannel(name, options.botPermissions ?? BOT_PERMISSIONS);
    if (this.gateway.sessionId) this.gateway.dispatch('CHANNEL_CREATE', channel.data);
    return channel.data;
  }

  /** Changes what the bot may do in a channel (e.g. remove Attach Files to see 403 / 50013). */
  setBotPermissions(channelId: string, permissions: bigint): void {
    const channel = this.#world.channels.get(channelId);
    if (!channel) throw new Error(`fake Discord: no channel ${channelId}`);
    channel.botPermissions = permissions;
  }

  /** Environment for the bot's config loader: token, API URL, attachment host allow-list, application id. */
  env(): Record<string, string> {
    return {
      DISCORD_TOKEN: this.token,
      DISCORD_API_URL: this.apiUrl,
      DISCORD_APPLICATION_ID: this.applicationId,
      ATTACHMENT_HOSTS: this.cdnHost,
    };
  }

  /** Closes sockets, servers and timers, and fails pending waits. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#feed.close();
      this.#timers.clearAll();
      this.gateway.close();
      await Promise.all(
        this.#servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    })();
    return this.#closing;
  }
}

export function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  return FakeDiscord.start(options);
}

function routeMain(
  req: IncomingMessage,
  res: ServerResponse,
  rest: RestServerOptions,
  cdn: FakeCdn,
  internalErrors: Error[],
): void {
  const url = new URL(req.url ?? '/', 'http://fake');
  if (url.pathname.startsWith('/api/v10/')) {
    handleRest(req, res, url.pathname.slice('/api/v10'.length), url.searchParams, rest).catch((error: unknown) => {
      internalErrors.push(error instanceof Error ? error : new Error(String(error)));
      if (!res.headersSent) res.writeHead(500).end();
    });
    return;
  }
  if (url.pathname.startsWith('/api/')) {
    const body = JSON.stringify({ message: '404: Not Found', code: 0 });
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    return;
  }
  if (!cdn.handle(req, res, 'cdn')) notFound(res);
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 9 }).end('Not Found');
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** Three base64url parts like a real bot token: the bot id, a timestamp-ish part, an HMAC-ish part. */
function makeBotToken(botId: string): string {
  const parts = [Buffer.from(botId), randomBytes(4), randomBytes(27)];
  return parts.map((part) => part.toString('base64url')).join('.');
}

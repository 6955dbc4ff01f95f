import type {
  APIApplication,
  APIGuildMember,
  APIGuildTextChannel,
  APIInteractionGuildMember,
  APIRole,
  APIUser,
  ChannelFlags,
  ChannelType,
  GatewayGuildCreateDispatchData,
  GuildMemberFlags,
  RoleFlags,
  UserFlags,
} from 'discord.js';

/** Permission bits the fake checks or hands out (Discord's values). */
export const Permission = {
  CreateInstantInvite: 1n << 0n,
  Administrator: 1n << 3n,
  ManageGuild: 1n << 5n,
  AddReactions: 1n << 6n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  EmbedLinks: 1n << 14n,
  AttachFiles: 1n << 15n,
  ReadMessageHistory: 1n << 16n,
  UseExternalEmojis: 1n << 18n,
  ChangeNickname: 1n << 26n,
  UseApplicationCommands: 1n << 31n,
  SendMessagesInThreads: 1n << 38n,
} as const;

/** What an ordinary member may do in a text channel. */
export const MEMBER_PERMISSIONS =
  Permission.CreateInstantInvite |
  Permission.AddReactions |
  Permission.ViewChannel |
  Permission.SendMessages |
  Permission.EmbedLinks |
  Permission.AttachFiles |
  Permission.ReadMessageHistory |
  Permission.UseExternalEmojis |
  Permission.ChangeNickname |
  Permission.UseApplicationCommands |
  Permission.SendMessagesInThreads;

/** What the bot was invited with (README: View Channels, Send Messages, Attach Files, Embed Links) plus defaults. */
export const BOT_PERMISSIONS =
  Permission.ViewChannel |
  Permission.SendMessages |
  Permission.EmbedLinks |
  Permission.AttachFiles |
  Permission.ReadMessageHistory |
  Permission.UseApplicationCommands;

const GUILD_TEXT = 0 as ChannelType.GuildText;
const NO_USER_FLAGS = 0 as UserFlags;

export interface FakeChannel {
  data: APIGuildTextChannel<ChannelType.GuildText>;
  /** The bot's effective permissions here; channel routes enforce View Channel, Send Messages, Attach Files. */
  botPermissions: bigint;
}

export interface WorldOptions {
  botUsername?: string;
  guildName?: string;
  channelName?: string;
}

/** The static part of the fake: the bot and its application, one guild with one text channel, known users. */
export class World {
  readonly applicationId: string;
  readonly botUser: APIUser;
  readonly application: APIApplication;
  readonly guildId: string;
  readonly guildName: string;
  readonly joinedAt: string;
  readonly everyoneRole: APIRole;
  /** Roles besides @everyone, in GUILD_CREATE (so discord.js caches them) and in members' `roles`. */
  readonly roles: APIRole[] = [];
  /** The member who runs slash commands unless a test names another user. */
  readonly defaultUser: APIUser;
  readonly ownerId: string;
  readonly users = new Map<string, APIUser>();
  readonly channels = new Map<string, FakeChannel>();
  readonly defaultChannelId: string;

  constructor(
    private readonly nextId: () => string,
    options: WorldOptions = {},
  ) {
    this.applicationId = nextId();
    this.botUser = {
      id: this.applicationId,
      username: options.botUsername ?? 'StyleBot',
      discriminator: '4821',
      global_name: null,
      avatar: null,
      bot: true,
      system: false,
      mfa_enabled: false,
      banner: null,
      accent_color: null,
      verified: true,
      flags: NO_USER_FLAGS,
      public_flags: NO_USER_FLAGS,
    };
    this.defaultUser = this.makeUser('tester');
    this.ownerId = this.defaultUser.id;
    this.users.set(this.botUser.id, this.botUser);
    this.application = {
      id: this.applicationId,
      name: this.botUser.username,
      icon: null,
      description: 'A fake application served by test/fake-discord',
      bot_public: true,
      bot_require_code_grant: false,
      bot: this.botUser,
      verify_key: '0'.repeat(64),
      owner: this.defaultUser,
      team: null,
      summary: '',
      flags: 0,
    } as unknown as APIApplication;
    this.guildId = nextId();
    this.guildName = options.guildName ?? 'Fake Guild';
    this.joinedAt = new Date().toISOString();
    this.everyoneRole = {
      id: this.guildId,
      name: '@everyone',
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position: 0,
      permissions: MEMBER_PERMISSIONS.toString(),
      managed: false,
      mentionable: false,
      flags: 0 as RoleFlags,
    };
    this.defaultChannelId = this.addChannel(options.channelName ?? 'general').data.id;
  }

  makeUser(username: string, overrides: Partial<APIUser> = {}): APIUser {
    const user: APIUser = {
      id: this.nextId(),
      username,
      discriminator: '0',
      global_name: username.charAt(0).toUpperCase() + username.slice(1),
      avatar: null,
      bot: false,
      public_flags: NO_USER_FLAGS,
      flags: NO_USER_FLAGS,
      ...overrides,
    };
    this.users.set(user.id, user);
    return user;
  }

  /**
   * The user a test means: none is the default member; a known id or (without an id) a known username is that
   * user, updated with any other fields given; anything else becomes a new user with Discord's usual fields.
   */
  resolveUser(partial: Partial<APIUser> | undefined): APIUser {
    if (!partial) return this.defaultUser;
    const known = partial.id
      ? this.users.get(partial.id)
      : [...this.users.values()].find((u) => !u.bot && u.username === partial.username);
    if (!known) return this.makeUser(partial.username ?? 'member', partial);
    Object.assign(known, partial);
    return known;
  }

  addRole(name: string, permissions = 0n): APIRole {
    const role: APIRole = { ...this.everyoneRole, id: this.nextId(), name, position: this.roles.length + 1, permissions: permissions.toString() };
    this.roles.push(role);
    return role;
  }

  addChannel(name: string, botPermissions: bigint = BOT_PERMISSIONS): FakeChannel {
    const channel: FakeChannel = {
      data: {
        id: this.nextId(),
        type: GUILD_TEXT,
        guild_id: this.guildId,
        name,
        position: this.channels.size,
        permission_overwrites: [],
        topic: null,
        nsfw: false,
        last_message_id: null,
        rate_limit_per_user: 0,
        parent_id: null,
        flags: 0 as ChannelFlags,
      },
      botPermissions,
    };
    this.channels.set(channel.data.id, channel);
    return channel;
  }

  botMember(): APIGuildMember {
    return this.member(this.botUser);
  }

  member(user: APIUser, options: { nick?: string | null; roles?: string[] } = {}): APIGuildMember {
    return {
      user,
      nick: options.nick ?? null,
      avatar: null,
      banner: null,
      roles: options.roles ?? [],
      joined_at: this.joinedAt,
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0 as GuildMemberFlags,
      pending: false,
      communication_disabled_until: null,
    };
  }

  interactionMember(
    user: APIUser,
    permissions: bigint,
    options: { nick?: string | null; roles?: string[] } = {},
  ): APIInteractionGuildMember {
    return { ...this.member(user, options), user, permissions: permissions.toString() };
  }

  /** The full guild as GUILD_CREATE carries it. */
  guildCreate(): GatewayGuildCreateDispatchData {
    return {
      id: this.guildId,
      name: this.guildName,
      icon: null,
      icon_hash: null,
      splash: null,
      discovery_splash: null,
      owner_id: this.ownerId,
      region: 'deprecated',
      afk_channel_id: null,
      afk_timeout: 300,
      widget_enabled: false,
      widget_channel_id: null,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [this.everyoneRole, ...this.roles],
      emojis: [],
      features: [],
      mfa_level: 0,
      application_id: null,
      system_channel_id: this.defaultChannelId,
      system_channel_flags: 0,
      rules_channel_id: null,
      max_presences: null,
      max_members: 500_000,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: 0,
      premium_subscription_count: 0,
      preferred_locale: 'en-US',
      public_updates_channel_id: null,
      max_video_channel_users: 25,
      max_stage_video_channel_users: 50,
      nsfw_level: 0,
      stickers: [],
      premium_progress_bar_enabled: false,
      hub_type: null,
      safety_alerts_channel_id: null,
      incidents_data: null,
      joined_at: this.joinedAt,
      large: false,
      unavailable: false,
      member_count: 2,
      voice_states: [],
      members: [this.botMember()],
      channels: [...this.channels.values()].map((c) => c.data),
      threads: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    } as unknown as GatewayGuildCreateDispatchData;
  }
}

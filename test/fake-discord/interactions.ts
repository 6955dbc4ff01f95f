import type {
  APIApplicationCommandInteractionDataOption,
  APIApplicationCommandOption,
  APIAttachment,
  APIInteraction,
  APIMessage,
  APIUser,
} from 'discord.js';
import type { ChangeFeed } from './change-feed.ts';
import type { CommandStore } from './commands.ts';
import { InteractionKind, InteractionStore, type InteractionRecord } from './interaction-store.ts';
import type { MessageStore, StoredMessage } from './message-store.ts';
import type { RecordedRequest, RequestLog } from './request-log.ts';
import { BOT_PERMISSIONS, MEMBER_PERMISSIONS, type FakeChannel, type World } from './world.ts';

const OptionType = {
  Subcommand: 1,
  SubcommandGroup: 2,
  String: 3,
  Integer: 4,
  Boolean: 5,
  User: 6,
  Channel: 7,
  Role: 8,
  Mentionable: 9,
  Number: 10,
  Attachment: 11,
} as const;

const CALLBACK_ROUTE = '/interactions/:id/:token/callback';

/**
 * An option value: plain values get their type from the registered command (or are inferred: attachment 11,
 * boolean 5, string 3, integer 4, other number 10); `{ type, value }` states it outright.
 */
export type SlashOptionValue = string | number | boolean | APIAttachment | APIUser | { type: number; value: unknown };

export interface MemberOptions {
  /** Default: an ordinary member's permissions. */
  permissions?: bigint | string;
  roles?: string[];
  nick?: string | null;
}

interface InvokerOptions {
  /** Default: the fake's `tester` user. A partial user is completed and registered. */
  user?: Partial<APIUser>;
  member?: MemberOptions;
  /** Default: the fake guild; `null` makes a DM interaction (no member). */
  guildId?: string | null;
  /** Default: the fake guild's text channel. An unknown id is a channel the bot cannot access (403 50001). */
  channelId?: string;
  /** `attachment_size_limit` in the payload; default: the fake's (10 MiB unless configured). */
  attachmentSizeLimit?: number;
  locale?: string;
  /** `app_permissions`; default: the bot's permissions in the channel. */
  appPermissions?: bigint | string;
}

export interface SlashCommandOptions extends InvokerOptions {
  name: string;
  /** By option name, or raw option objects. */
  options?: Record<string, SlashOptionValue> | APIApplicationCommandInteractionDataOption[];
  subcommand?: string;
}

export interface ButtonOptions extends InvokerOptions {
  customId: string;
  /** The message carrying the button: a stored message, its API object, or its id. */
  message: StoredMessage | APIMessage | string;
}

export interface SelectOptions extends ButtonOptions {
  /** The option values picked; they must be among the menu's options, as many as its min/max_values allow. */
  values: string[];
}

export interface AutocompleteOptions extends InvokerOptions {
  name: string;
  subcommand?: string;
  /** The option being typed in (it must have `autocomplete: true` when the command is registered). */
  focused: string;
  /** What is typed in the focused option so far; Discord sends it as a string whatever the option's type. */
  typed: string;
  /** Other options already filled in, by name (values unchecked: Discord sends partial input as it is). */
  options?: Record<string, string | number | boolean>;
}

export interface MessageCommandOptions extends InvokerOptions {
  /** The command's name, e.g. "Stylize this image". */
  name: string;
  /** The message it was used on: a stored message (the bot's or one from `fake.postMessage`), or its id. */
  target: StoredMessage | string;
}

interface Invoker {
  user: APIUser;
  guildId: string | undefined;
  channelId: string;
  channel: FakeChannel | undefined;
  appPermissions: bigint;
  member: MemberOptions | undefined;
  locale: string;
  attachmentSizeLimit: number;
}

export interface InteractionsContext {
  world: World;
  store: InteractionStore;
  commands: CommandStore;
  messages: MessageStore;
  log: RequestLog;
  feed: ChangeFeed;
  nextId: () => string;
  attachmentSizeLimit: number;
  dispatch: (event: string, data: unknown) => number;
}

/** Builds realistic interactions, registers their tokens and dispatches them as INTERACTION_CREATE. */
export class FakeInteractions {
  constructor(private readonly ctx: InteractionsContext) {}

  /** A `/name` chat-input command. Throws if the options could not come from a real Discord client. */
  slashCommand(options: SlashCommandOptions): InteractionHandle {
    const invoker = this.#invoker(options);
    const registered = this.ctx.commands.find(options.name, invoker.guildId);
    const { options: dataOptions, resolved } = buildOptions(options, registered?.options);
    const data: Record<string, unknown> = { id: registered?.id ?? this.ctx.nextId(), name: options.name, type: 1 };
    if (dataOptions.length > 0) data.options = dataOptions;
    if (Object.keys(resolved).length > 0) data.resolved = resolved;
    if (registered?.guild_id) data.guild_id = registered.guild_id;
    return this.#dispatch(InteractionKind.ApplicationCommand, invoker, data, { commandName: options.name });
  }

  /** A click on a button of a message the bot sent. Throws if the message has no such enabled button. */
  button(options: ButtonOptions): InteractionHandle {
    const { stored } = this.#component(options, ComponentType.Button, 'button');
    const invoker = this.#invoker({ ...options, channelId: options.channelId ?? stored.channelId });
    const data = { custom_id: options.customId, component_type: ComponentType.Button };
    return this.#dispatch(InteractionKind.MessageComponent, invoker, data, {
      message: stored.data,
      sourceMessageId: stored.id,
    });
  }

  /**
   * A choice in a string select menu (component type 3) of a message the bot sent. Throws if the message has no
   * such enabled menu, or the values are not among its options or break its min/max_values.
   */
  select(options: SelectOptions): InteractionHandle {
    const { stored, component } = this.#component(options, ComponentType.StringSelect, 'string select menu');
    const offered = new Set((component.options ?? []).map((o) => o.value));
    const unknown = options.values.filter((v) => !offered.has(v));
    if (unknown.length > 0) throw new Error(`fake Discord: menu "${options.customId}" has no option ${unknown.join(', ')}`);
    const min = component.min_values ?? 1;
    const max = component.max_values ?? 1;
    if (options.values.length < min || options.values.length > max || new Set(options.values).size !== options.values.length) {
      throw new Error(`fake Discord: menu "${options.customId}" takes ${min} to ${max} distinct values`);
    }
    const invoker = this.#invoker({ ...options, channelId: options.channelId ?? stored.channelId });
    const data = { custom_id: options.customId, component_type: ComponentType.StringSelect, values: options.values };
    return this.#dispatch(InteractionKind.MessageComponent, invoker, data, {
      message: stored.data,
      sourceMessageId: stored.id,
    });
  }

  /**
   * What a client sends while a member types in an option with `autocomplete: true` (interaction type 4): the
   * options so far, the focused one carrying the typed text. The bot answers with callback type 8 and its choices
   * (`handle.choices`).
   */
  autocomplete(options: AutocompleteOptions): InteractionHandle {
    const invoker = this.#invoker(options);
    const registered = this.ctx.commands.find(options.name, invoker.guildId);
    let defs = registered?.options;
    if (options.subcommand !== undefined) {
      const sub = defs?.find((d) => Number(d.type) === OptionType.Subcommand && d.name === options.subcommand);
      defs = sub && 'options' in sub ? sub.options : registered ? [] : undefined;
    }
    const focusedDef = defs?.find((d) => d.name === options.focused);
    if (defs && (!focusedDef || !('autocomplete' in focusedDef) || focusedDef.autocomplete !== true)) {
      throw new Error(`fake Discord: /${options.name} has no option "${options.focused}" with autocomplete`);
    }
    const typeOf = (name: string, value: unknown) => {
      const def = defs?.find((d) => d.name === name);
      if (defs && !def) throw new Error(`fake Discord: /${options.name} has no option "${name}" as registered`);
      return def ? Number(def.type) : inferType(value as SlashOptionValue);
    };
    const list: Record<string, unknown>[] = Object.entries(options.options ?? {}).map(([name, value]) => ({
      name,
      type: typeOf(name, value),
      value,
    }));
    list.push({ name: options.focused, type: focusedDef ? Number(focusedDef.type) : OptionType.String, value: options.typed, focused: true });
    const wrapped = options.subcommand !== undefined ? [{ type: OptionType.Subcommand, name: options.subcommand, options: list }] : list;
    const data: Record<string, unknown> = { id: registered?.id ?? this.ctx.nextId(), name: options.name, type: 1, options: wrapped };
    if (registered?.guild_id) data.guild_id = registered.guild_id;
    return this.#dispatch(InteractionKind.Autocomplete, invoker, data, { commandName: options.name });
  }

  /**
   * A message context-menu command (interaction type 2, data.type 3) used on `target`: `target_id` and the whole
   * message in `resolved.messages`, as Discord sends it (interactions see a message's content and attachments
   * without the Message Content intent).
   */
  messageCommand(options: MessageCommandOptions): InteractionHandle {
    const stored = typeof options.target === 'string' ? this.ctx.messages.get(options.target) : options.target;
    if (!stored || stored.deleted) throw new Error('fake Discord: no such message to use a message command on');
    if (stored.ephemeral) throw new Error('fake Discord: message commands cannot be used on ephemeral messages');
    const invoker = this.#invoker({ ...options, channelId: options.channelId ?? stored.channelId });
    const registered = this.ctx.commands.find(options.name, invoker.guildId, CommandType.Message);
    const data: Record<string, unknown> = {
      id: registered?.id ?? this.ctx.nextId(),
      name: options.name,
      type: CommandType.Message,
      target_id: stored.id,
      resolved: { messages: { [stored.id]: structuredClone(stored.data) } },
    };
    if (registered?.guild_id) data.guild_id = registered.guild_id;
    return this.#dispatch(InteractionKind.ApplicationCommand, invoker, data, {
      commandName: options.name,
      commandType: CommandType.Message,
      targetMessageId: stored.id,
    });
  }

  /** Looks up the handle of an interaction the fake dispatched. */
  get(id: string): InteractionHandle | undefined {
    const record = this.ctx.store.get(id);
    return record ? new InteractionHandle(record, this.ctx) : undefined;
  }

  #component(
    options: ButtonOptions,
    type: number,
    kind: string,
  ): { stored: StoredMessage; component: ComponentLike } {
    const stored =
      typeof options.message === 'string'
        ? this.ctx.messages.get(options.message)
        : this.ctx.messages.get(options.message.id);
    if (!stored || stored.deleted) throw new Error(`fake Discord: no message ${describeMessage(options.message)} to click on`);
    const component = findComponent(stored.data.components ?? [], options.customId);
    if (!component || component.type !== type) {
      throw new Error(`fake Discord: message ${stored.id} has no ${kind} with custom_id "${options.customId}"`);
    }
    if (component.disabled === true) throw new Error(`fake Discord: ${kind} "${options.customId}" is disabled`);
    return { stored, component };
  }

  #invoker(options: InvokerOptions): Invoker {
    const { world } = this.ctx;
    const user = world.resolveUser(options.user);
    const guildId = options.guildId === null ? undefined : (options.guildId ?? world.guildId);
    const channelId = options.channelId ?? world.defaultChannelId;
    const channel = world.channels.get(channelId);
    const appPermissions = BigInt(options.appPermissions ?? channel?.botPermissions ?? BOT_PERMISSIONS);
    return {
      user,
      guildId,
      channelId,
      channel,
      appPermissions,
      member: options.member,
      locale: options.locale ?? 'en-US',
      attachmentSizeLimit: options.attachmentSizeLimit ?? this.ctx.attachmentSizeLimit,
    };
  }

  #dispatch(
    type: number,
    invoker: Invoker,
    data: unknown,
    extra: {
      commandName?: string;
      commandType?: number;
      targetMessageId?: string;
      message?: APIMessage;
      sourceMessageId?: string;
    },
  ): InteractionHandle {
    const { world } = this.ctx;
    const id = this.ctx.nextId();
    const token = InteractionStore.makeToken(id);
    const channelData = invoker.channel?.data ?? {
      id: invoker.channelId,
      type: invoker.guildId ? 0 : 1,
      ...(invoker.guildId ? { guild_id: invoker.guildId, name: 'hidden-channel' } : {}),
    };
    const payload: Record<string, unknown> = {
      id,
      application_id: world.applicationId,
      type,
      data,
      token,
      version: 1,
      channel: { ...channelData },
      channel_id: invoker.channelId,
      app_permissions: invoker.appPermissions.toString(),
      locale: invoker.locale,
      entitlements: [],
      attachment_size_limit: invoker.attachmentSizeLimit,
    };
    if (invoker.guildId) {
      const permissions = BigInt(invoker.member?.permissions ?? MEMBER_PERMISSIONS);
      payload.guild_id = invoker.guildId;
      payload.guild = { id: invoker.guildId, locale: 'en-US', features: [] };
      payload.guild_locale = 'en-US';
      payload.member = world.interactionMember(invoker.user, permissions, invoker.member ?? {});
      payload.authorizing_integration_owners = { '0': invoker.guildId };
      payload.context = 0;
    } else {
      payload.user = invoker.user;
      payload.authorizing_integration_owners = { '0': '0' };
      payload.context = 1;
    }
    if (extra.message) payload.message = extra.message;

    const record: InteractionRecord = {
      id,
      token,
      type,
      payload: payload as unknown as APIInteraction,
      channelId: invoker.channelId,
      guildId: invoker.guildId,
      user: invoker.user,
      attachmentSizeLimit: invoker.attachmentSizeLimit,
      commandName: extra.commandName,
      commandType: extra.commandType ?? (extra.commandName ? CommandType.ChatInput : undefined),
      targetMessageId: extra.targetMessageId,
      createdAt: this.ctx.store.now(),
      acknowledged: false,
      callbackType: undefined,
      originalMessageId: undefined,
      followUpIds: [],
      sourceMessageId: extra.sourceMessageId,
      modal: undefined,
      choices: undefined,
    };
    // Dispatch first: it throws without a gateway session. Nothing can answer before add() runs (no await between).
    this.ctx.dispatch('INTERACTION_CREATE', payload);
    this.ctx.store.add(record);
    return new InteractionHandle(record, this.ctx);
  }
}

/** A test's view of one interaction: what the bot sent for it and what its messages look like now. */
export class InteractionHandle {
  constructor(
    private readonly record: InteractionRecord,
    private readonly ctx: InteractionsContext,
  ) {}

  get id(): string {
    return this.record.id;
  }

  get token(): string {
    return this.record.token;
  }

  /** The INTERACTION_CREATE data as dispatched. */
  get payload(): APIInteraction {
    return this.record.payload;
  }

  get acknowledged(): boolean {
    return this.record.acknowledged;
  }

  /** The callback type the bot answered with: 4 reply, 5 defer, 6 deferred update, 7 update, 8 choices, 9 modal. */
  get callbackType(): number | undefined {
    return this.record.callbackType;
  }

  /** The modal a type-9 callback opened. */
  get modal(): unknown {
    return this.record.modal;
  }

  /** An autocomplete interaction's answer (callback type 8), as sent. */
  get choices(): { name: string; value: string | number }[] | undefined {
    return this.record.choices;
  }

  /** Every REST request made with this interaction's id or token, in order. */
  requests(): RecordedRequest[] {
    return this.ctx.log.all().filter((r) => r.interactionId === this.record.id);
  }

  waitForRequest(predicate: (request: RecordedRequest) => boolean = () => true, timeoutMs = 5000): Promise<RecordedRequest> {
    return this.ctx.log.waitFor((r) => r.interactionId === this.record.id && predicate(r), timeoutMs);
  }

  /** The first successful interaction callback (reply, defer, update ...). */
  waitForResponse(timeoutMs = 5000): Promise<RecordedRequest> {
    return this.waitForRequest((r) => r.route === CALLBACK_ROUTE && r.status < 300, timeoutMs);
  }

  /** The original response (or, for a component interaction answered with 6/7, the message clicked). */
  originalMessage(): StoredMessage | undefined {
    const id = this.record.originalMessageId;
    return id ? this.ctx.messages.get(id) : undefined;
  }

  /** Waits until the original response exists and `predicate` holds for its current state. */
  waitForOriginal(predicate: (message: APIMessage) => boolean = () => true, timeoutMs = 5000): Promise<StoredMessage> {
    return this.ctx.feed.waitUntil(
      () => {
        const message = this.originalMessage();
        return message && !message.deleted && predicate(message.data) ? message : undefined;
      },
      timeoutMs,
      () => {
        const now = JSON.stringify(this.originalMessage()?.data.content);
        return `the original response of interaction ${this.record.id} to match (content now: ${now})`;
      },
    );
  }

  followUps(): StoredMessage[] {
    return this.record.followUpIds.flatMap((id) => this.ctx.messages.get(id) ?? []);
  }

  /** Milliseconds on the fake clock since the interaction was created. */
  tokenAgeMs(): number {
    return this.ctx.store.ageMs(this.record);
  }

  /** Ages this interaction's token past its lifetime (other tokens are untouched). */
  expireToken(): void {
    this.ctx.store.expire(this.record);
  }
}

function buildOptions(
  input: SlashCommandOptions,
  definitions: APIApplicationCommandOption[] | undefined,
): { options: APIApplicationCommandInteractionDataOption[]; resolved: Record<string, Record<string, unknown>> } {
  const resolved: Record<string, Record<string, unknown>> = {};
  const given = input.options ?? {};
  if (Array.isArray(given)) return { options: given, resolved };

  let defs = definitions;
  if (input.subcommand !== undefined) {
    const sub = definitions?.find((d) => Number(d.type) === OptionType.Subcommand && d.name === input.subcommand);
    if (definitions && !sub) throw new Error(`fake Discord: /${input.name} has no subcommand "${input.subcommand}"`);
    defs = sub && 'options' in sub ? sub.options : undefined;
  } else if (definitions?.some((d) => [OptionType.Subcommand, OptionType.SubcommandGroup].includes(Number(d.type) as 1 | 2))) {
    throw new Error(`fake Discord: /${input.name} needs a subcommand`);
  }

  const options: APIApplicationCommandInteractionDataOption[] = [];
  for (const [name, value] of Object.entries(given)) {
    const def = definitions ? defs?.find((d) => d.name === name) : undefined;
    if (definitions && !def) throw new Error(`fake Discord: /${input.name} has no option "${name}" as registered`);
    const type = def?.type ?? inferType(value);
    options.push(toOption(input.name, name, type, value, def, resolved));
  }
  for (const def of defs ?? []) {
    if ('required' in def && def.required && !(def.name in given)) {
      throw new Error(`fake Discord: /${input.name} needs its required option "${def.name}"`);
    }
  }
  if (input.subcommand !== undefined) {
    const wrapped = { type: OptionType.Subcommand, name: input.subcommand, options };
    return { options: [wrapped as APIApplicationCommandInteractionDataOption], resolved };
  }
  return { options, resolved };
}

function isAttachment(value: unknown): value is APIAttachment {
  return typeof value === 'object' && value !== null && 'url' in value && 'filename' in value && 'id' in value;
}

function isUser(value: unknown): value is APIUser {
  return typeof value === 'object' && value !== null && 'username' in value && 'id' in value;
}

function inferType(value: SlashOptionValue): number {
  if (isAttachment(value)) return OptionType.Attachment;
  if (isUser(value)) return OptionType.User;
  if (typeof value === 'object') return value.type;
  if (typeof value === 'boolean') return OptionType.Boolean;
  if (typeof value === 'string') return OptionType.String;
  return Number.isInteger(value) ? OptionType.Integer : OptionType.Number;
}

function toOption(
  command: string,
  name: string,
  type: number,
  given: SlashOptionValue,
  def: APIApplicationCommandOption | undefined,
  resolved: Record<string, Record<string, unknown>>,
): { name: string; type: number; value: unknown } {
  const fail = (why: string): never => {
    throw new Error(`fake Discord: /${command} option "${name}" ${why}`);
  };
  const value = typeof given === 'object' && !isAttachment(given) && !isUser(given) ? given.value : given;
  const constraints = (def ?? {}) as {
    choices?: { value: unknown }[];
    min_value?: number;
    max_value?: number;
    min_length?: number;
    max_length?: number;
  };
  switch (type) {
    case OptionType.Attachment: {
      if (!isAttachment(value)) fail('must be an attachment (use `await fake.cdn.add(bytes, {...})`)');
      const attachment = value as APIAttachment;
      (resolved.attachments ??= {})[attachment.id] = attachment;
      return { name, type, value: attachment.id };
    }
    case OptionType.User: {
      const user = isUser(value) ? value : undefined;
      if (!user) fail('must be a user object');
      (resolved.users ??= {})[user!.id] = user;
      return { name, type, value: user!.id };
    }
    case OptionType.String: {
      if (typeof value !== 'string') fail('must be a string');
      const { length } = value as string;
      if (constraints.min_length !== undefined && length < constraints.min_length) fail(`is shorter than ${constraints.min_length}`);
      if (constraints.max_length !== undefined && length > constraints.max_length) fail(`is longer than ${constraints.max_length}`);
      break;
    }
    case OptionType.Integer:
    case OptionType.Number:
      if (typeof value !== 'number' || !Number.isFinite(value)) fail('must be a number');
      if (type === OptionType.Integer && !Number.isInteger(value)) fail('must be a whole number');
      if (constraints.min_value !== undefined && (value as number) < constraints.min_value) fail(`is below ${constraints.min_value}`);
      if (constraints.max_value !== undefined && (value as number) > constraints.max_value) fail(`is above ${constraints.max_value}`);
      break;
    case OptionType.Boolean:
      if (typeof value !== 'boolean') fail('must be true or false');
      break;
    default:
      if (typeof value !== 'string') fail('must be an id');
  }
  if (constraints.choices && !constraints.choices.some((c) => c.value === value)) {
    fail(`must be one of ${constraints.choices.map((c) => JSON.stringify(c.value)).join(', ')}`);
  }
  return { name, type, value };
}

const ComponentType = { ActionRow: 1, Button: 2, StringSelect: 3 } as const;
const CommandType = { ChatInput: 1, User: 2, Message: 3 } as const;

interface ComponentLike {
  type: number;
  custom_id?: string;
  disabled?: boolean;
  components?: unknown[];
  accessory?: unknown;
  options?: { value: string }[];
  min_values?: number;
  max_values?: number;
}

/** An interactive component (button, select menu) by custom id, in action rows or Components V2 layouts. */
function findComponent(components: unknown[], customId: string): ComponentLike | undefined {
  for (const component of components) {
    const c = component as ComponentLike;
    if (c.type !== ComponentType.ActionRow && c.custom_id === customId) return c;
    const nested = [...(Array.isArray(c.components) ? c.components : []), ...(c.accessory ? [c.accessory] : [])];
    const found = nested.length > 0 ? findComponent(nested, customId) : undefined;
    if (found) return found;
  }
  return undefined;
}

function describeMessage(message: StoredMessage | APIMessage | string): string {
  return typeof message === 'string' ? message : message.id;
}

import type { APIMessageInteraction, APIMessageInteractionMetadata } from 'discord.js';
import { discordErrors, invalidFormBody, type FormProblem } from './discord-errors.ts';
import { InteractionKind, type InteractionRecord } from './interaction-store.ts';
import { MessageFlag, parseMessageBody } from './message-body.ts';
import { MessageKind, type NewMessage, type StoredMessage } from './message-store.ts';
import type { RestDeps } from './rest-deps.ts';
import type { RestContext, RestReply, RouteDef } from './rest-router.ts';

const Callback = {
  ChannelMessageWithSource: 4,
  DeferredChannelMessageWithSource: 5,
  DeferredMessageUpdate: 6,
  UpdateMessage: 7,
  AutocompleteResult: 8,
  Modal: 9,
} as const;

const MAX_CHOICES = 25;

/** The interaction callback and the webhook routes an interaction token unlocks. */
export function interactionRoutes(deps: RestDeps): RouteDef[] {
  const { world, interactions, messages } = deps;

  /** Metadata Discord attaches to messages an interaction created. */
  const provenance = (record: InteractionRecord, originalId?: string): Partial<NewMessage> => {
    const metadata: Record<string, unknown> = {
      id: record.id,
      type: record.type,
      user: record.user,
      authorizing_integration_owners: record.payload.authorizing_integration_owners,
    };
    if (record.type === InteractionKind.ApplicationCommand) {
      metadata.name = record.commandName;
      metadata.command_type = record.commandType ?? 1;
      if (record.targetMessageId) metadata.target_message_id = record.targetMessageId;
    }
    if (record.sourceMessageId) metadata.interacted_message_id = record.sourceMessageId;
    if (originalId) metadata.original_response_message_id = originalId;
    const legacy: APIMessageInteraction = {
      id: record.id,
      type: record.type,
      name: record.commandName ?? '',
      user: record.user,
    };
    const reply = record.type === InteractionKind.MessageComponent || originalId !== undefined;
    const referenced = originalId ?? record.sourceMessageId;
    return {
      author: world.botUser,
      type: record.type === InteractionKind.ApplicationCommand ? MessageKind.ChatInputCommand : MessageKind.Reply,
      webhookId: world.applicationId,
      applicationId: world.applicationId,
      interactionId: record.id,
      interactionMetadata: metadata as unknown as APIMessageInteractionMetadata,
      interaction: legacy,
      ...(reply && referenced
        ? { messageReference: { type: 0, message_id: referenced, channel_id: record.channelId, guild_id: record.guildId } }
        : {}),
    };
  };

  const createFor = (record: InteractionRecord, ctx: RestContext, extra: Partial<NewMessage>): Promise<StoredMessage> =>
    messages.create({
      channelId: record.channelId,
      author: world.botUser,
      body: parseMessageBody(dataOf(ctx.json)),
      files: ctx.files,
      type: MessageKind.ChatInputCommand,
      allowEphemeral: true,
      sizeLimit: record.attachmentSizeLimit,
      ...provenance(record),
      ...extra,
    });

  const callback = async (ctx: RestContext): Promise<RestReply> => {
    const record = interactions.get(ctx.params.id!);
    if (!record || record.token !== ctx.params.token) throw discordErrors.unknownInteraction();
    ctx.setInteraction(record.id);
    if (record.acknowledged) throw discordErrors.alreadyAcknowledged();
    if (!interactions.canAcknowledge(record)) throw discordErrors.unknownInteraction();
    const body = ctx.json as { type?: unknown } | undefined;
    const type = body?.type;
    if (typeof type !== 'number') {
      throw invalidFormBody([{ path: ['type'], code: 'BASE_TYPE_REQUIRED', message: 'This field is required' }]);
    }
    const isComponent = record.type === InteractionKind.MessageComponent;
    const isAutocomplete = record.type === InteractionKind.Autocomplete;
    const componentOnly = type === Callback.DeferredMessageUpdate || type === Callback.UpdateMessage;
    // An autocomplete interaction takes choices (8) and nothing else; only it takes them.
    if (![4, 5, 6, 7, 8, 9].includes(type) || (componentOnly && !isComponent) || isAutocomplete !== (type === Callback.AutocompleteResult)) {
      const message = 'Invalid interaction response type';
      throw invalidFormBody([{ path: ['type'], code: 'INTERACTION_RESPONSE_TYPE_INVALID', message }]);
    }
    const choices = type === Callback.AutocompleteResult ? parseChoices(dataOf(ctx.json)) : undefined;

    // Claimed before any await, so two racing callbacks cannot both succeed.
    record.acknowledged = true;
    let message: StoredMessage | undefined;
    try {
      if (type === Callback.ChannelMessageWithSource) message = await createFor(record, ctx, {});
      else if (type === Callback.DeferredChannelMessageWithSource) {
        message = await createFor(record, ctx, { extraFlags: MessageFlag.Loading, allowEmpty: true, files: [] });
      } else if (type === Callback.DeferredMessageUpdate) message = messages.get(record.sourceMessageId!);
      else if (type === Callback.UpdateMessage) {
        const source = messages.get(record.sourceMessageId!);
        if (!source) throw discordErrors.unknownMessage();
        message = await messages.edit(source, parseMessageBody(dataOf(ctx.json)), ctx.files, record.attachmentSizeLimit);
      } else if (type === Callback.Modal) record.modal = dataOf(ctx.json);
      else record.choices = choices;
    } catch (error) {
      record.acknowledged = false;
      throw error;
    }
    record.callbackType = type;
    record.originalMessageId = message?.id;

    if (ctx.query.get('with_response') !== 'true') return { status: 204 };
    const resource: Record<string, unknown> = { type };
    if (message && (type === Callback.ChannelMessageWithSource || type === Callback.UpdateMessage)) resource.message = message.data;
    const interaction: Record<string, unknown> = { id: record.id, type: record.type };
    if (message) {
      interaction.response_message_id = message.id;
      interaction.response_message_loading = ((message.data.flags ?? 0) & MessageFlag.Loading) !== 0;
      interaction.response_message_ephemeral = message.ephemeral;
    }
    return { status: 200, body: { interaction, resource } };
  };

  /** The interaction behind a webhook URL, if its token is (still) valid. */
  const tokenRecord = (ctx: RestContext): InteractionRecord => {
    const record = interactions.byToken(ctx.params.token!);
    if (!record) throw discordErrors.invalidWebhookToken();
    ctx.setInteraction(record.id);
    if (ctx.params.app !== world.applicationId) throw discordErrors.unknownWebhook();
    if (!interactions.tokenValid(record)) throw discordErrors.invalidWebhookToken();
    return record;
  };

  const original = (record: InteractionRecord): StoredMessage => {
    const message = record.originalMessageId ? messages.get(record.originalMessageId) : undefined;
    if (!message || message.deleted) throw discordErrors.unknownMessage();
    return message;
  };

  const ownMessage = (record: InteractionRecord, id: string): StoredMessage => {
    if (id === record.originalMessageId || record.followUpIds.includes(id)) {
      const message = messages.get(id);
      if (message && !message.deleted) return message;
    }
    throw discordErrors.unknownMessage();
  };

  const editReply = async (ctx: RestContext, message: StoredMessage, record: InteractionRecord): Promise<RestReply> => {
    const edited = await messages.edit(message, parseMessageBody(ctx.json), ctx.files, record.attachmentSizeLimit);
    return { status: 200, body: edited.data };
  };

  const followUp = async (ctx: RestContext): Promise<RestReply> => {
    const record = tokenRecord(ctx);
    if (!record.acknowledged) throw discordErrors.unknownWebhook();
    const current = record.originalMessageId ? messages.get(record.originalMessageId) : undefined;
    // Documented legacy behaviour: the first follow-up after a deferred reply fills the "thinking" message.
    if (
      record.callbackType === Callback.DeferredChannelMessageWithSource &&
      current &&
      ((current.data.flags ?? 0) & MessageFlag.Loading) !== 0
    ) {
      const body = parseMessageBody(ctx.json);
      const edited = await messages.edit(current, body, ctx.files, record.attachmentSizeLimit);
      return ctx.query.get('wait') === 'false' ? { status: 204 } : { status: 200, body: edited.data };
    }
    const message = await messages.create({
      channelId: record.channelId,
      author: world.botUser,
      body: parseMessageBody(ctx.json),
      files: ctx.files,
      type: MessageKind.ChatInputCommand,
      allowEphemeral: true,
      sizeLimit: record.attachmentSizeLimit,
      ...provenance(record, record.originalMessageId),
    });
    record.followUpIds.push(message.id);
    return ctx.query.get('wait') === 'false' ? { status: 204 } : { status: 200, body: message.data };
  };

  const webhookMessage = '/webhooks/:app/:token/messages';
  return [
    { method: 'POST', route: '/interactions/:id/:token/callback', auth: 'none', handler: callback },
    { method: 'POST', route: '/webhooks/:app/:token', auth: 'none', handler: followUp },
    {
      method: 'GET',
      route: `${webhookMessage}/@original`,
      auth: 'none',
      handler: (ctx) => ({ status: 200, body: original(tokenRecord(ctx)).data }),
    },
    {
      method: 'PATCH',
      route: `${webhookMessage}/@original`,
      auth: 'none',
      handler: (ctx) => {
        const record = tokenRecord(ctx);
        return editReply(ctx, original(record), record);
      },
    },
    {
      method: 'DELETE',
      route: `${webhookMessage}/@original`,
      auth: 'none',
      handler: (ctx) => {
        messages.delete(original(tokenRecord(ctx)));
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      route: `${webhookMessage}/:message`,
      auth: 'none',
      handler: (ctx) => ({ status: 200, body: ownMessage(tokenRecord(ctx), ctx.params.message!).data }),
    },
    {
      method: 'PATCH',
      route: `${webhookMessage}/:message`,
      auth: 'none',
      handler: (ctx) => {
        const record = tokenRecord(ctx);
        return editReply(ctx, ownMessage(record, ctx.params.message!), record);
      },
    },
    {
      method: 'DELETE',
      route: `${webhookMessage}/:message`,
      auth: 'none',
      handler: (ctx) => {
        messages.delete(ownMessage(tokenRecord(ctx), ctx.params.message!));
        return { status: 204 };
      },
    },
  ];
}

/** Autocomplete choices as Discord checks them: at most 25, names 1-100 characters, string values up to 100. */
function parseChoices(data: unknown): { name: string; value: string | number }[] {
  const list = (data as { choices?: unknown } | undefined)?.choices;
  if (!Array.isArray(list)) {
    throw invalidFormBody([{ path: ['data', 'choices'], code: 'BASE_TYPE_REQUIRED', message: 'This field is required' }]);
  }
  const problems: FormProblem[] = [];
  if (list.length > MAX_CHOICES) {
    problems.push({ path: ['data', 'choices'], code: 'BASE_TYPE_MAX_LENGTH', message: `Must be ${MAX_CHOICES} or fewer in length.` });
  }
  list.forEach((choice: unknown, index) => {
    const c = choice as { name?: unknown; value?: unknown };
    if (typeof c?.name !== 'string' || c.name.length < 1 || c.name.length > 100) {
      problems.push({ path: ['data', 'choices', index, 'name'], code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' });
    }
    const valid = typeof c?.value === 'number' ? Number.isFinite(c.value) : typeof c?.value === 'string' && c.value.length <= 100;
    if (!valid) {
      problems.push({ path: ['data', 'choices', index, 'value'], code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' });
    }
  });
  if (problems.length > 0) throw invalidFormBody(problems);
  return list as { name: string; value: string | number }[];
}

/** The `data` of a callback body. */
function dataOf(json: unknown): unknown {
  return typeof json === 'object' && json !== null ? (json as { data?: unknown }).data : undefined;
}

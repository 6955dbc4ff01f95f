import type { APIMessageReference } from 'discord.js';
import { discordErrors, invalidFormBody } from './discord-errors.ts';
import { parseMessageBody } from './message-body.ts';
import { MessageKind, type StoredMessage } from './message-store.ts';
import type { RestDeps } from './rest-deps.ts';
import type { RestContext, RouteDef } from './rest-router.ts';
import { Permission, type FakeChannel } from './world.ts';

/**
 * Channel routes with the bot token: the channel, its messages, posting and editing (the path the bot takes once
 * an interaction token has expired). Channels the fake does not know answer 403 / 50001 Missing Access, as
 * Discord does for channels the bot cannot see; missing Send Messages or Attach Files answers 403 / 50013.
 */
export function channelRoutes(deps: RestDeps): RouteDef[] {
  const { world, messages } = deps;

  const channel = (ctx: RestContext, ...needs: bigint[]): FakeChannel => {
    const found = world.channels.get(ctx.params.channel!);
    if (!found || (found.botPermissions & Permission.ViewChannel) === 0n) throw discordErrors.missingAccess();
    if (needs.some((need) => (found.botPermissions & need) === 0n)) throw discordErrors.missingPermissions();
    return found;
  };

  const visibleMessage = (ctx: RestContext): StoredMessage => {
    const message = messages.get(ctx.params.message!);
    if (!message || message.deleted || message.ephemeral || message.channelId !== ctx.params.channel) {
      throw discordErrors.unknownMessage();
    }
    return message;
  };

  return [
    { method: 'GET', route: '/channels/:channel', auth: 'bot', handler: (ctx) => ({ status: 200, body: channel(ctx).data }) },
    {
      method: 'GET',
      route: '/channels/:channel/messages',
      auth: 'bot',
      handler: (ctx) => {
        const found = channel(ctx);
        if ((found.botPermissions & Permission.ReadMessageHistory) === 0n) return { status: 200, body: [] };
        const limit = Math.min(100, Math.max(1, Number(ctx.query.get('limit') ?? 50) || 50));
        const list = messages.inChannel(found.data.id).reverse().slice(0, limit);
        return { status: 200, body: list.map((m) => m.data) };
      },
    },
    {
      method: 'GET',
      route: '/channels/:channel/messages/:message',
      auth: 'bot',
      handler: (ctx) => {
        channel(ctx, Permission.ReadMessageHistory);
        return { status: 200, body: visibleMessage(ctx).data };
      },
    },
    {
      method: 'POST',
      route: '/channels/:channel/messages',
      auth: 'bot',
      handler: async (ctx) => {
        const found = channel(ctx, Permission.SendMessages, ...(ctx.files.length > 0 ? [Permission.AttachFiles] : []));
        const reference = (ctx.json as { message_reference?: APIMessageReference & { fail_if_not_exists?: boolean } } | undefined)
          ?.message_reference;
        let referenced: StoredMessage | undefined;
        if (reference) {
          // Replying needs Read Message History; the message must exist here unless fail_if_not_exists is false.
          if ((found.botPermissions & Permission.ReadMessageHistory) === 0n) throw discordErrors.missingPermissions();
          const target = reference.message_id ? messages.get(reference.message_id) : undefined;
          const inChannel = (reference.channel_id ?? found.data.id) === found.data.id;
          referenced = target && !target.deleted && !target.ephemeral && target.channelId === found.data.id && inChannel ? target : undefined;
          if (!referenced && reference.fail_if_not_exists !== false) {
            throw invalidFormBody([
              { path: ['message_reference'], code: 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', message: 'Unknown message' },
            ]);
          }
        }
        const message = await messages.create({
          channelId: found.data.id,
          author: world.botUser,
          body: parseMessageBody(ctx.json),
          files: ctx.files,
          type: referenced ? MessageKind.Reply : MessageKind.Default,
          allowEphemeral: false,
          sizeLimit: deps.attachmentSizeLimit,
          ...(referenced
            ? {
                messageReference: { type: 0, message_id: referenced.id, channel_id: found.data.id, guild_id: found.data.guild_id },
                referencedMessage: structuredClone(referenced.data),
              }
            : {}),
        });
        return { status: 200, body: message.data };
      },
    },
    {
      method: 'PATCH',
      route: '/channels/:channel/messages/:message',
      auth: 'bot',
      handler: async (ctx) => {
        channel(ctx, ...(ctx.files.length > 0 ? [Permission.AttachFiles] : []));
        const message = visibleMessage(ctx);
        if (message.data.author.id !== world.botUser.id) throw discordErrors.cannotEditOthersMessage();
        const edited = await messages.edit(message, parseMessageBody(ctx.json), ctx.files, deps.attachmentSizeLimit);
        return { status: 200, body: edited.data };
      },
    },
    {
      method: 'DELETE',
      route: '/channels/:channel/messages/:message',
      auth: 'bot',
      handler: (ctx) => {
        channel(ctx);
        const message = visibleMessage(ctx);
        if (message.data.author.id !== world.botUser.id) throw discordErrors.missingPermissions();
        messages.delete(message);
        return { status: 204 };
      },
    },
  ];
}

import { discordErrors } from './discord-errors.ts';
import type { RestDeps } from './rest-deps.ts';
import type { RouteDef } from './rest-router.ts';

/** Gateway discovery, the bot's own user and application, users and the guild. */
export function basicRoutes(deps: RestDeps): RouteDef[] {
  const { world } = deps;
  return [
    { method: 'GET', route: '/gateway', auth: 'none', handler: () => ({ status: 200, body: { url: deps.gatewayUrl() } }) },
    {
      method: 'GET',
      route: '/gateway/bot',
      auth: 'bot',
      handler: () => ({
        status: 200,
        body: { url: deps.gatewayUrl(), shards: 1, session_start_limit: deps.sessionStartLimit() },
      }),
    },
    { method: 'GET', route: '/users/@me', auth: 'bot', handler: () => ({ status: 200, body: world.botUser }) },
    {
      method: 'GET',
      route: '/users/:user',
      auth: 'bot',
      handler: ({ params }) => {
        const user = world.users.get(params.user!);
        if (!user) throw discordErrors.unknownUser();
        return { status: 200, body: user };
      },
    },
    { method: 'GET', route: '/applications/@me', auth: 'bot', handler: () => ({ status: 200, body: world.application }) },
    {
      method: 'GET',
      route: '/guilds/:guild',
      auth: 'bot',
      handler: ({ params }) => {
        if (params.guild !== world.guildId) throw discordErrors.missingAccess();
        const { channels: _c, members: _m, voice_states: _v, presences: _p, threads: _t, ...guild } = world.guildCreate();
        return { status: 200, body: guild };
      },
    },
    {
      method: 'GET',
      route: '/guilds/:guild/channels',
      auth: 'bot',
      handler: ({ params }) => {
        if (params.guild !== world.guildId) throw discordErrors.missingAccess();
        return { status: 200, body: [...world.channels.values()].map((c) => c.data) };
      },
    },
  ];
}

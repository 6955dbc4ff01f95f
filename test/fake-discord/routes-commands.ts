import { discordErrors } from './discord-errors.ts';
import type { RestDeps } from './rest-deps.ts';
import type { RestContext, RouteDef } from './rest-router.ts';

/** Global and guild application commands: list, bulk overwrite, create, get, edit, delete. */
export function commandRoutes(deps: RestDeps): RouteDef[] {
  const { world, commands } = deps;
  /** The guild id for guild routes (the bot must be in it), undefined for global routes. */
  const scope = ({ params }: RestContext): string | undefined => {
    if (params.app !== world.applicationId) throw discordErrors.missingAccess();
    if (params.guild === undefined) return undefined;
    if (params.guild !== world.guildId) throw discordErrors.missingAccess();
    return params.guild;
  };
  const routes: RouteDef[] = [];
  for (const base of ['/applications/:app/commands', '/applications/:app/guilds/:guild/commands']) {
    routes.push(
      { method: 'GET', route: base, auth: 'bot', handler: (ctx) => ({ status: 200, body: commands.list(scope(ctx)) }) },
      {
        method: 'PUT',
        route: base,
        auth: 'bot',
        handler: (ctx) => ({ status: 200, body: commands.overwrite(ctx.json, scope(ctx)) }),
      },
      {
        method: 'POST',
        route: base,
        auth: 'bot',
        handler: (ctx) => {
          const { command, created } = commands.upsert(ctx.json, scope(ctx));
          return { status: created ? 201 : 200, body: command };
        },
      },
      {
        method: 'GET',
        route: `${base}/:command`,
        auth: 'bot',
        handler: (ctx) => ({ status: 200, body: commands.get(ctx.params.command!, scope(ctx)) }),
      },
      {
        method: 'PATCH',
        route: `${base}/:command`,
        auth: 'bot',
        handler: (ctx) => ({ status: 200, body: commands.edit(ctx.params.command!, ctx.json, scope(ctx)) }),
      },
      {
        method: 'DELETE',
        route: `${base}/:command`,
        auth: 'bot',
        handler: (ctx) => {
          commands.delete(ctx.params.command!, scope(ctx));
          return { status: 204 };
        },
      },
    );
  }
  return routes;
}

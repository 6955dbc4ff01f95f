import { REST } from 'discord.js';
import { loadCommands, registerCommands } from '../bot/bot.ts';
import { readConfigOrExit } from '../config/index.ts';

/** `npm run deploy-commands`: registers the slash commands per guild (DISCORD_GUILD_ID) or globally. */
const config = readConfigOrExit({ requireToken: true });
const token = config.discord.token;
if (!token) process.exit(1);

try {
  const rest = new REST({ api: config.discord.apiUrl }).setToken(token.reveal());
  const commands = await loadCommands(config);
  const result = await registerCommands(rest, config, commands);
  const where = result.scope === 'guild' ? `in guild ${result.guildId} (available now)` : 'globally (may take up to an hour to appear)';
  process.stdout.write(`Registered ${result.labels.join(', ')} ${where}.\n`);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`Could not register the commands: ${message.replaceAll(token.reveal(), '[redacted]')}\n`);
  process.exit(2);
}

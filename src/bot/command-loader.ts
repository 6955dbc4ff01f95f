import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isCommandModule, type CommandModule } from './command-module.ts';

export const COMMANDS_DIR = fileURLToPath(new URL('../../commands/', import.meta.url));

/** Loads every command module in commands/, keyed by command name. A file that is not a command is an error. */
export async function loadCommands(config: Parameters<CommandModule['data']>[0], dir = COMMANDS_DIR): Promise<Map<string, CommandModule>> {
  const files = (await readdir(dir)).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).sort();
  const commands = new Map<string, CommandModule>();
  for (const file of files) {
    const module: unknown = await import(pathToFileURL(path.join(dir, file)).href);
    if (!isCommandModule(module)) throw new Error(`${file} in commands/ does not export data() and execute()`);
    const name = module.data(config).name;
    if (commands.has(name)) throw new Error(`two command modules define /${name}`);
    commands.set(name, module);
  }
  return commands;
}

import type { APIApplicationCommand } from 'discord.js';
import { discordErrors, invalidFormBody, type FormProblem } from './discord-errors.ts';

const NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
const CHAT_INPUT = 1;
const SUBCOMMAND = 1;
const SUBCOMMAND_GROUP = 2;
const MAX_OPTIONS = 25;
const MAX_CHOICES = 25;

/**
 * Application commands registered with the fake, global and per guild. Bulk overwrite keeps the id of a command
 * whose name and type stay the same, as Discord does. Bodies are validated like Discord's (names, descriptions,
 * option order and counts); a bad one is refused with 400 / 50035 and per-field errors.
 */
export class CommandStore {
  readonly #global: APIApplicationCommand[] = [];
  readonly #guilds = new Map<string, APIApplicationCommand[]>();

  constructor(
    private readonly nextId: () => string,
    private readonly applicationId: string,
  ) {}

  list(guildId?: string): APIApplicationCommand[] {
    return structuredClone(this.#scope(guildId));
  }

  /** A command by name and type (chat input unless told): the guild's own first, then the global one. */
  find(name: string, guildId: string | undefined, type: number = CHAT_INPUT): APIApplicationCommand | undefined {
    const matches = (c: APIApplicationCommand) => c.name === name && Number(c.type) === type;
    const inGuild = guildId ? this.#guilds.get(guildId)?.find(matches) : undefined;
    return inGuild ?? this.#global.find(matches);
  }

  overwrite(body: unknown, guildId?: string): APIApplicationCommand[] {
    if (!Array.isArray(body)) {
      throw invalidFormBody([{ path: [], code: 'BASE_TYPE_LIST', message: 'This field must be a list.' }]);
    }
    const problems: FormProblem[] = [];
    body.forEach((command: unknown, index) => validateCommand(command, [index], problems));
    const names = new Set<string>();
    body.forEach((command: unknown, index) => {
      const c = command as { name?: unknown; type?: unknown };
      const key = `${typeof c.type === 'number' ? c.type : CHAT_INPUT}:${String(c.name)}`;
      if (names.has(key)) {
        problems.push({
          path: [index, 'name'],
          code: 'APPLICATION_COMMANDS_DUPLICATE_NAME',
          message: 'Application command names must be unique',
        });
      }
      names.add(key);
    });
    if (problems.length > 0) throw invalidFormBody(problems);
    const previous = this.#scope(guildId);
    const next = (body as Record<string, unknown>[]).map((raw) => {
      const kept = previous.find((c) => c.name === raw.name && c.type === (raw.type ?? CHAT_INPUT));
      return this.#toCommand(raw, guildId, kept?.id);
    });
    this.#setScope(guildId, next);
    return structuredClone(next);
  }

  /** POST: creates, or replaces the command with the same name (then `created` is false and Discord answers 200). */
  upsert(body: unknown, guildId?: string): { command: APIApplicationCommand; created: boolean } {
    const problems: FormProblem[] = [];
    validateCommand(body, [], problems);
    if (problems.length > 0) throw invalidFormBody(problems);
    const raw = body as Record<string, unknown>;
    const scope = [...this.#scope(guildId)];
    const index = scope.findIndex((c) => c.name === raw.name && c.type === (raw.type ?? CHAT_INPUT));
    const command = this.#toCommand(raw, guildId, index >= 0 ? scope[index]!.id : undefined);
    if (index >= 0) scope[index] = command;
    else scope.push(command);
    this.#setScope(guildId, scope);
    return { command: structuredClone(command), created: index < 0 };
  }

  get(id: string, guildId?: string): APIApplicationCommand {
    const command = this.#scope(guildId).find((c) => c.id === id);
    if (!command) throw discordErrors.unknownApplicationCommand();
    return structuredClone(command);
  }

  edit(id: string, body: unknown, guildId?: string): APIApplicationCommand {
    const current = this.get(id, guildId);
    const merged = { ...current, ...(typeof body === 'object' && body !== null ? body : {}) };
    const problems: FormProblem[] = [];
    validateCommand(merged, [], problems);
    if (problems.length > 0) throw invalidFormBody(problems);
    const command = this.#toCommand(merged, guildId, id);
    this.#setScope(guildId, this.#scope(guildId).map((c) => (c.id === id ? command : c)));
    return structuredClone(command);
  }

  delete(id: string, guildId?: string): void {
    this.get(id, guildId);
    this.#setScope(guildId, this.#scope(guildId).filter((c) => c.id !== id));
  }

  #scope(guildId: string | undefined): APIApplicationCommand[] {
    return guildId === undefined ? this.#global : (this.#guilds.get(guildId) ?? []);
  }

  #setScope(guildId: string | undefined, commands: APIApplicationCommand[]): void {
    if (guildId === undefined) this.#global.splice(0, this.#global.length, ...commands);
    else this.#guilds.set(guildId, commands);
  }

  #toCommand(raw: Record<string, unknown>, guildId: string | undefined, id: string | undefined): APIApplicationCommand {
    const command: Record<string, unknown> = {
      id: id ?? this.nextId(),
      application_id: this.applicationId,
      version: this.nextId(),
      type: raw.type ?? CHAT_INPUT,
      name: raw.name,
      name_localizations: raw.name_localizations ?? null,
      description: raw.description ?? '',
      description_localizations: raw.description_localizations ?? null,
      default_member_permissions: raw.default_member_permissions ?? null,
      nsfw: raw.nsfw ?? false,
      integration_types: raw.integration_types ?? [0],
      contexts: raw.contexts ?? null,
    };
    if (Array.isArray(raw.options) && raw.options.length > 0) command.options = raw.options;
    if (guildId !== undefined) command.guild_id = guildId;
    return command as unknown as APIApplicationCommand;
  }
}

function validateCommand(value: unknown, path: (string | number)[], problems: FormProblem[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push({ path, code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' });
    return;
  }
  const c = value as Record<string, unknown>;
  const type = c.type ?? CHAT_INPUT;
  if (type !== 1 && type !== 2 && type !== 3 && type !== 4) {
    problems.push({
      path: [...path, 'type'],
      code: 'BASE_TYPE_CHOICES',
      message: `Value must be one of {1, 2, 3, 4}.`,
    });
    return;
  }
  checkName(c.name, [...path, 'name'], type === CHAT_INPUT, problems);
  if (type === CHAT_INPUT) {
    checkDescription(c.description, [...path, 'description'], problems);
    checkOptions(c.options, [...path, 'options'], 0, problems);
  }
}

function checkName(name: unknown, path: (string | number)[], lowercase: boolean, problems: FormProblem[]): void {
  if (typeof name !== 'string' || name.length < 1 || name.length > 32) {
    problems.push({ path, code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 32 in length.' });
  } else if (lowercase && (!NAME.test(name) || name !== name.toLowerCase())) {
    problems.push({ path, code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Command name is invalid' });
  }
}

function checkDescription(description: unknown, path: (string | number)[], problems: FormProblem[]): void {
  if (typeof description !== 'string' || description.length < 1 || description.length > 100) {
    problems.push({ path, code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' });
  }
}

function checkOptions(options: unknown, path: (string | number)[], depth: number, problems: FormProblem[]): void {
  if (options === undefined || options === null) return;
  if (!Array.isArray(options)) {
    problems.push({ path, code: 'BASE_TYPE_LIST', message: 'This field must be a list.' });
    return;
  }
  if (options.length > MAX_OPTIONS) {
    problems.push({ path, code: 'BASE_TYPE_MAX_LENGTH', message: `Must be ${MAX_OPTIONS} or fewer in length.` });
  }
  const names = new Set<string>();
  let sawOptional = false;
  options.forEach((option: unknown, index) => {
    const at = [...path, index];
    const o = option as Record<string, unknown>;
    if (typeof option !== 'object' || option === null) {
      problems.push({ path: at, code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' });
      return;
    }
    if (typeof o.type !== 'number' || o.type < 1 || o.type > 11) {
      problems.push({
        path: [...at, 'type'],
        code: 'BASE_TYPE_CHOICES',
        message: 'Value must be one of {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}.',
      });
      return;
    }
    checkName(o.name, [...at, 'name'], true, problems);
    checkDescription(o.description, [...at, 'description'], problems);
    if (typeof o.name === 'string') {
      if (names.has(o.name)) {
        problems.push({
          path: [...at, 'name'],
          code: 'APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS',
          message: 'Option names must be unique',
        });
      }
      names.add(o.name);
    }
    const nested = o.type === SUBCOMMAND || o.type === SUBCOMMAND_GROUP;
    if (nested) {
      if (depth >= (o.type === SUBCOMMAND_GROUP ? 1 : 2)) {
        problems.push({
          path: [...at, 'type'],
          code: 'APPLICATION_COMMAND_OPTION_INVALID_NESTING',
          message: 'Sub-command and sub-command group option types are mutually exclusive to all other types',
        });
      }
      checkOptions(o.options, [...at, 'options'], depth + 1, problems);
      return;
    }
    if (o.required === true && sawOptional) {
      problems.push({
        path: [...at, 'required'],
        code: 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID',
        message: 'Required options must be placed before non-required options',
      });
    }
    if (o.required !== true) sawOptional = true;
    const choices = o.choices;
    if (Array.isArray(choices) && choices.length > MAX_CHOICES) {
      problems.push({
        path: [...at, 'choices'],
        code: 'BASE_TYPE_MAX_LENGTH',
        message: `Must be ${MAX_CHOICES} or fewer in length.`,
      });
    }
  });
}

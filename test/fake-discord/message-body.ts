import type { APIAllowedMentions, APIEmbed } from 'discord.js';
import { invalidFormBody, type FormProblem } from './discord-errors.ts';

export const MessageFlag = {
  SuppressEmbeds: 1 << 2,
  Ephemeral: 1 << 6,
  Loading: 1 << 7,
  SuppressNotifications: 1 << 12,
  IsComponentsV2: 1 << 15,
} as const;

/** Where a new file goes and what it is called, from the `attachments` array of a request. */
export interface AttachmentRef {
  id: string;
  filename?: string;
  description?: string;
}

/** A message create/edit request, checked the way Discord checks it. Absent fields are undefined. */
export interface MessageBody {
  content?: string;
  embeds?: APIEmbed[];
  components?: unknown[];
  flags?: number;
  attachments?: AttachmentRef[];
  allowedMentions?: APIAllowedMentions;
  hasPoll: boolean;
  hasStickers: boolean;
}

const MAX_CONTENT = 2000;
const MAX_EMBEDS = 10;
const MAX_EMBED_TOTAL = 6000;
const MAX_ACTION_ROWS = 5;
const MAX_V2_COMPONENTS = 40;

/** Parses and validates a JSON body (or `payload_json`); throws Discord's 400 / 50035 with the problems found. */
export function parseMessageBody(json: unknown): MessageBody {
  if (json === undefined || json === null) return { hasPoll: false, hasStickers: false };
  if (typeof json !== 'object' || Array.isArray(json)) {
    throw invalidFormBody([{ path: [], code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' }]);
  }
  const raw = json as Record<string, unknown>;
  const problems: FormProblem[] = [];
  const body: MessageBody = {
    hasPoll: raw.poll !== undefined && raw.poll !== null,
    hasStickers: Array.isArray(raw.sticker_ids) && raw.sticker_ids.length > 0,
  };

  if (raw.content !== undefined && raw.content !== null) {
    if (typeof raw.content !== 'string') {
      problems.push({ path: ['content'], code: 'BASE_TYPE_STRING', message: 'This field must be a string.' });
    } else if ([...raw.content].length > MAX_CONTENT) {
      problems.push({
        path: ['content'],
        code: 'BASE_TYPE_MAX_LENGTH',
        message: `Must be ${MAX_CONTENT} or fewer in length.`,
      });
    } else body.content = raw.content;
  } else if (raw.content === null) body.content = '';

  if (raw.embeds !== undefined) body.embeds = parseEmbeds(raw.embeds, problems);
  if (raw.flags !== undefined && raw.flags !== null) {
    if (!Number.isInteger(raw.flags)) {
      problems.push({ path: ['flags'], code: 'NUMBER_TYPE_COERCE', message: 'Value is not int.' });
    } else body.flags = raw.flags as number;
  }
  if (raw.components !== undefined) body.components = parseComponents(raw.components, body.flags ?? 0, problems);
  if (raw.attachments !== undefined && raw.attachments !== null) body.attachments = parseAttachmentRefs(raw.attachments, problems);
  if (raw.allowed_mentions !== undefined && raw.allowed_mentions !== null) {
    if (typeof raw.allowed_mentions !== 'object') {
      problems.push({
        path: ['allowed_mentions'],
        code: 'DICT_TYPE_CONVERT',
        message: 'Only dictionaries may be used in a DictType',
      });
    } else body.allowedMentions = raw.allowed_mentions;
  }
  if (problems.length > 0) throw invalidFormBody(problems);
  return body;
}

function parseEmbeds(value: unknown, problems: FormProblem[]): APIEmbed[] {
  if (value === null) return [];
  if (!Array.isArray(value)) {
    problems.push({ path: ['embeds'], code: 'BASE_TYPE_LIST', message: 'This field must be a list.' });
    return [];
  }
  if (value.length > MAX_EMBEDS) {
    problems.push({
      path: ['embeds'],
      code: 'BASE_TYPE_MAX_LENGTH',
      message: `Must be ${MAX_EMBEDS} or fewer in length.`,
    });
  }
  let total = 0;
  const embeds: APIEmbed[] = [];
  value.forEach((embed: unknown, index) => {
    if (typeof embed !== 'object' || embed === null) {
      problems.push({
        path: ['embeds', index],
        code: 'DICT_TYPE_CONVERT',
        message: 'Only dictionaries may be used in a DictType',
      });
      return;
    }
    const e = embed as APIEmbed;
    const limits: [keyof APIEmbed, number][] = [
      ['title', 256],
      ['description', 4096],
    ];
    for (const [key, max] of limits) {
      const text = e[key];
      if (typeof text === 'string') {
        total += text.length;
        if (text.length > max) {
          problems.push({
            path: ['embeds', index, key],
            code: 'BASE_TYPE_MAX_LENGTH',
            message: `Must be ${max} or fewer in length.`,
          });
        }
      }
    }
    if (e.fields && e.fields.length > 25) {
      problems.push({
        path: ['embeds', index, 'fields'],
        code: 'BASE_TYPE_MAX_LENGTH',
        message: 'Must be 25 or fewer in length.',
      });
    }
    for (const field of e.fields ?? []) total += (field.name?.length ?? 0) + (field.value?.length ?? 0);
    total += (e.footer?.text?.length ?? 0) + (e.author?.name?.length ?? 0);
    embeds.push({ type: 'rich' as APIEmbed['type'], ...e });
  });
  if (total > MAX_EMBED_TOTAL) {
    problems.push({
      path: ['embeds'],
      code: 'MAX_EMBED_SIZE_EXCEEDED',
      message: 'Embed size exceeds maximum size of 6000',
    });
  }
  return embeds;
}

function parseComponents(value: unknown, flags: number, problems: FormProblem[]): unknown[] {
  if (value === null) return [];
  if (!Array.isArray(value)) {
    problems.push({ path: ['components'], code: 'BASE_TYPE_LIST', message: 'This field must be a list.' });
    return [];
  }
  const v2 = (flags & MessageFlag.IsComponentsV2) !== 0;
  const max = v2 ? MAX_V2_COMPONENTS : MAX_ACTION_ROWS;
  if (value.length > max) {
    problems.push({
      path: ['components'],
      code: 'BASE_TYPE_MAX_LENGTH',
      message: `Must be ${max} or fewer in length.`,
    });
  }
  const customIds = new Set<string>();
  value.forEach((row: unknown, rowIndex) => {
    const r = row as { type?: unknown; components?: unknown };
    if (v2 || typeof row !== 'object' || row === null) return;
    if (r.type !== 1 || !Array.isArray(r.components)) {
      problems.push({
        path: ['components', rowIndex],
        code: 'UNION_TYPE_CHOICES',
        message: 'Value of field "type" must be one of (1,).',
      });
      return;
    }
    if (r.components.length === 0 || r.components.length > 5) {
      problems.push({
        path: ['components', rowIndex, 'components'],
        code: 'BASE_TYPE_BAD_LENGTH',
        message: 'Must be between 1 and 5 in length.',
      });
    }
    r.components.forEach((component: unknown, index) => {
      const c = component as { type?: unknown; style?: unknown; custom_id?: unknown; url?: unknown; label?: unknown };
      const path = ['components', rowIndex, 'components', index];
      if (c.type === STRING_SELECT) {
        checkStringSelect(component as StringSelect, path, r.components as unknown[], customIds, problems);
        return;
      }
      if (c.type !== 2) return; // other selects are stored as given
      const isLink = c.style === 5;
      const isPremium = c.style === 6;
      if (isLink && typeof c.url !== 'string') {
        problems.push({ path: [...path, 'url'], code: 'BASE_TYPE_REQUIRED', message: 'This field is required' });
      }
      if (!isLink && !isPremium) {
        if (typeof c.custom_id !== 'string' || c.custom_id.length === 0 || c.custom_id.length > 100) {
          problems.push({
            path: [...path, 'custom_id'],
            code: 'BASE_TYPE_BAD_LENGTH',
            message: 'Must be between 1 and 100 in length.',
          });
        } else if (customIds.has(c.custom_id)) {
          problems.push({
            path: [...path, 'custom_id'],
            code: 'COMPONENT_CUSTOM_ID_DUPLICATED',
            message: 'Component custom id cannot be duplicated',
          });
        } else customIds.add(c.custom_id);
      }
      if (typeof c.label === 'string' && c.label.length > 80) {
        problems.push({
          path: [...path, 'label'],
          code: 'BASE_TYPE_MAX_LENGTH',
          message: 'Must be 80 or fewer in length.',
        });
      }
    });
  });
  return value as unknown[];
}

const STRING_SELECT = 3;
const MAX_SELECT_OPTIONS = 25;

interface StringSelect {
  custom_id?: unknown;
  options?: unknown;
  placeholder?: unknown;
  min_values?: unknown;
  max_values?: unknown;
}

/** A string select menu as Discord checks it: alone in its row, 1-25 options with unique values, sane bounds. */
function checkStringSelect(
  select: StringSelect,
  path: (string | number)[],
  row: unknown[],
  customIds: Set<string>,
  problems: FormProblem[],
): void {
  const bad = (key: string, code: string, message: string) => problems.push({ path: [...path, key], code, message });
  if (row.length !== 1) {
    problems.push({ path: path.slice(0, -1), code: 'COMPONENT_LAYOUT_WIDTH_EXCEEDED', message: 'The specified component exceeds the maximum width' });
  }
  if (typeof select.custom_id !== 'string' || select.custom_id.length === 0 || select.custom_id.length > 100) {
    bad('custom_id', 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
  } else if (customIds.has(select.custom_id)) {
    bad('custom_id', 'COMPONENT_CUSTOM_ID_DUPLICATED', 'Component custom id cannot be duplicated');
  } else customIds.add(select.custom_id);
  if (typeof select.placeholder === 'string' && select.placeholder.length > 150) {
    bad('placeholder', 'BASE_TYPE_MAX_LENGTH', 'Must be 150 or fewer in length.');
  }
  const options = Array.isArray(select.options) ? (select.options as { label?: unknown; value?: unknown }[]) : [];
  if (options.length === 0 || options.length > MAX_SELECT_OPTIONS) {
    bad('options', 'BASE_TYPE_BAD_LENGTH', `Must be between 1 and ${MAX_SELECT_OPTIONS} in length.`);
  }
  const values = new Set<unknown>();
  options.forEach((option, index) => {
    for (const key of ['label', 'value'] as const) {
      const text = option?.[key];
      if (typeof text !== 'string' || text.length === 0 || text.length > 100) {
        problems.push({ path: [...path, 'options', index, key], code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' });
      }
    }
    if (values.has(option?.value)) {
      problems.push({ path: [...path, 'options', index, 'value'], code: 'SELECT_COMPONENT_OPTION_VALUE_DUPLICATED', message: 'Select component option values must be unique' });
    }
    values.add(option?.value);
  });
  const min = select.min_values ?? 1;
  const max = select.max_values ?? 1;
  if (typeof min !== 'number' || min < 0 || min > MAX_SELECT_OPTIONS) bad('min_values', 'NUMBER_TYPE_MAX', 'Must be between 0 and 25.');
  if (typeof max !== 'number' || max < 1 || max > Math.min(MAX_SELECT_OPTIONS, Math.max(1, options.length)) || (typeof min === 'number' && max < min)) {
    bad('max_values', 'NUMBER_TYPE_MAX', 'Must be between 1 and the number of options.');
  }
}

function parseAttachmentRefs(value: unknown, problems: FormProblem[]): AttachmentRef[] {
  if (!Array.isArray(value)) {
    problems.push({ path: ['attachments'], code: 'BASE_TYPE_LIST', message: 'This field must be a list.' });
    return [];
  }
  const refs: AttachmentRef[] = [];
  value.forEach((item: unknown, index) => {
    const ref = item as { id?: unknown; filename?: unknown; description?: unknown };
    if (typeof item !== 'object' || item === null || (typeof ref.id !== 'string' && typeof ref.id !== 'number')) {
      problems.push({
        path: ['attachments', index, 'id'],
        code: 'BASE_TYPE_REQUIRED',
        message: 'This field is required',
      });
      return;
    }
    const out: AttachmentRef = { id: String(ref.id) };
    if (typeof ref.filename === 'string') out.filename = ref.filename;
    if (typeof ref.description === 'string') out.description = ref.description;
    refs.push(out);
  });
  return refs;
}

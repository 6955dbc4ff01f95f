import type {
  APIAttachment,
  APIEmbed,
  APIMessage,
  APIMessageInteraction,
  APIMessageInteractionMetadata,
  APIMessageReference,
  APIUser,
} from 'discord.js';
import type { FakeCdn } from './cdn.ts';
import type { ChangeFeed } from './change-feed.ts';
import { discordErrors, invalidFormBody } from './discord-errors.ts';
import { MessageFlag, type AttachmentRef, type MessageBody } from './message-body.ts';
import type { RecordedFile } from './request-log.ts';
import type { World } from './world.ts';

export const MessageKind = { Default: 0, Reply: 19, ChatInputCommand: 20 } as const;

const MAX_ATTACHMENTS = 10;

/** A message as the fake holds it: the current API object, every earlier state, and where it came from. */
export interface StoredMessage {
  readonly id: string;
  readonly channelId: string;
  /** The message as GET would return it now. */
  data: APIMessage;
  ephemeral: boolean;
  deleted: boolean;
  /** The interaction whose response or follow-up this is. */
  interactionId: string | undefined;
  /** Every state of the message, oldest first; the last one equals `data`. */
  revisions: APIMessage[];
}

export interface NewMessage {
  channelId: string;
  author: APIUser;
  body: MessageBody;
  files: RecordedFile[];
  type: number;
  /** Flags the fake sets itself (Loading for a deferred reply). */
  extraFlags?: number;
  /** Interaction responses may be ephemeral; channel messages may not. */
  allowEphemeral: boolean;
  sizeLimit: number;
  interactionId?: string;
  webhookId?: string;
  applicationId?: string;
  interactionMetadata?: APIMessageInteractionMetadata;
  interaction?: APIMessageInteraction;
  messageReference?: APIMessageReference;
  /** The message replied to, as Discord embeds it in a reply. */
  referencedMessage?: APIMessage;
  /** True for a deferred "thinking" message, which may be empty. */
  allowEmpty?: boolean;
}

/** A message a member posted (not the bot): for message commands and replies. */
export interface MemberMessage {
  channelId: string;
  author: APIUser;
  content: string;
  /** From `fake.cdn.add(bytes, { ephemeral: false })`. */
  attachments: APIAttachment[];
  embeds: APIEmbed[];
}

export class MessageStore {
  readonly #byId = new Map<string, StoredMessage>();

  constructor(
    private readonly nextId: () => string,
    private readonly cdn: FakeCdn,
    private readonly world: World,
    private readonly feed: ChangeFeed,
  ) {}

  get(id: string): StoredMessage | undefined {
    return this.#byId.get(id);
  }

  /** Messages in a channel, oldest first; ephemeral and deleted ones only when asked for. */
  inChannel(channelId: string, options: { ephemeral?: boolean; deleted?: boolean } = {}): StoredMessage[] {
    return [...this.#byId.values()].filter(
      (m) =>
        m.channelId === channelId && (options.ephemeral || !m.ephemeral) && (options.deleted || !m.deleted),
    );
  }

  all(): StoredMessage[] {
    return [...this.#byId.values()];
  }

  waitFor(predicate: (message: StoredMessage) => boolean, timeoutMs = 5000): Promise<StoredMessage> {
    return this.feed.waitUntil(
      () => [...this.#byId.values()].find(predicate),
      timeoutMs,
      () => `a matching message (${this.#byId.size} stored)`,
    );
  }

  async create(input: NewMessage): Promise<StoredMessage> {
    checkUploads(input.files, input.sizeLimit);
    const requestedFlags = input.body.flags ?? 0;
    const ephemeral = input.allowEphemeral && (requestedFlags & MessageFlag.Ephemeral) !== 0;
    const settable = MessageFlag.SuppressEmbeds | MessageFlag.SuppressNotifications | MessageFlag.IsComponentsV2;
    const flags = (requestedFlags & settable) | (ephemeral ? MessageFlag.Ephemeral : 0) | (input.extraFlags ?? 0);

    const uploads = orderNewFiles(input.files, input.body.attachments, 'create');
    if (uploads.length > MAX_ATTACHMENTS) throw tooManyAttachments();
    const attachments: APIAttachment[] = [];
    for (const { file, ref } of uploads) attachments.push(await this.#upload(file, ref, input.channelId, ephemeral));

    const content = input.body.content ?? '';
    const embeds = resolveAttachmentUrls(input.body.embeds ?? [], attachments);
    const components = input.body.components ?? [];
    if (!input.allowEmpty && isEmpty(content, embeds, attachments, components, input.body)) {
      throw discordErrors.cannotSendEmptyMessage();
    }

    const id = this.nextId();
    const data: APIMessage = {
      id,
      type: input.type,
      content,
      channel_id: input.channelId,
      author: input.author,
      attachments,
      embeds,
      mentions: this.#mentions(content, input.body),
      mention_roles: [],
      mention_everyone: false,
      pinned: false,
      tts: false,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      flags,
      components: components as APIMessage['components'],
    };
    if (input.webhookId) data.webhook_id = input.webhookId;
    if (input.applicationId) data.application_id = input.applicationId;
    if (input.interactionMetadata) data.interaction_metadata = input.interactionMetadata;
    if (input.interaction) data.interaction = input.interaction;
    if (input.messageReference) data.message_reference = input.messageReference;
    if (input.referencedMessage) data.referenced_message = input.referencedMessage;

    const stored: StoredMessage = {
      id,
      channelId: input.channelId,
      data,
      ephemeral,
      deleted: false,
      interactionId: input.interactionId,
      revisions: [structuredClone(data)],
    };
    this.#byId.set(id, stored);
    const channel = this.world.channels.get(input.channelId);
    if (channel && !ephemeral) channel.data.last_message_id = id;
    this.feed.notify();
    return stored;
  }

  /** Stores a member's message as Discord would hold it (nothing is validated: members use Discord's own client). */
  addMemberMessage(input: MemberMessage): StoredMessage {
    const id = this.nextId();
    const data: APIMessage = {
      id,
      type: MessageKind.Default,
      content: input.content,
      channel_id: input.channelId,
      author: input.author,
      attachments: input.attachments,
      embeds: input.embeds,
      mentions: [],
      mention_roles: [],
      mention_everyone: false,
      pinned: false,
      tts: false,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      flags: 0 as APIMessage['flags'],
      components: [],
    };
    const stored: StoredMessage = {
      id,
      channelId: input.channelId,
      data,
      ephemeral: false,
      deleted: false,
      interactionId: undefined,
      revisions: [structuredClone(data)],
    };
    this.#byId.set(id, stored);
    const channel = this.world.channels.get(input.channelId);
    if (channel) channel.data.last_message_id = id;
    this.feed.notify();
    return stored;
  }

  /**
   * Applies an edit with Discord's v10 attachment rules: without an `attachments` array, new files are appended;
   * with one, the message keeps exactly the listed attachments (existing ids and new `files[n]` indexes).
   */
  async edit(message: StoredMessage, body: MessageBody, files: RecordedFile[], sizeLimit: number): Promise<StoredMessage> {
    if (message.deleted) throw discordErrors.unknownMessage();
    checkUploads(files, sizeLimit);
    const current = message.data;
    const wasLoading = ((current.flags ?? 0) & MessageFlag.Loading) !== 0;

    let attachments: APIAttachment[];
    if (body.attachments === undefined) {
      attachments = [...current.attachments];
      for (const { file, ref } of orderNewFiles(files, undefined, 'edit')) {
        attachments.push(await this.#upload(file, ref, message.channelId, message.ephemeral));
      }
    } else {
      attachments = [];
      const existing = new Map(current.attachments.map((a) => [a.id, a]));
      const newFiles = new Map(files.map((file, position) => [String(fileIndex(file, position)), file]));
      const problems: { path: (string | number)[]; code: string; message: string }[] = [];
      for (const [index, ref] of body.attachments.entries()) {
        const kept = existing.get(ref.id);
        const file = newFiles.get(ref.id);
        if (kept) attachments.push(ref.description === undefined ? kept : { ...kept, description: ref.description });
        else if (file) attachments.push(await this.#upload(file, ref, message.channelId, message.ephemeral));
        else problems.push({ path: ['attachments', index, 'id'], code: 'ATTACHMENT_NOT_FOUND', message: 'Unknown attachment' });
      }
      if (problems.length > 0) throw invalidFormBody(problems);
    }
    if (attachments.length > MAX_ATTACHMENTS) throw tooManyAttachments();

    const content = body.content ?? current.content;
    const embeds = body.embeds === undefined ? current.embeds : resolveAttachmentUrls(body.embeds, attachments);
    const components = body.components ?? current.components ?? [];
    if (isEmpty(content, embeds, attachments, components, body)) throw discordErrors.cannotSendEmptyMessage();

    let flags = (current.flags ?? 0) & ~MessageFlag.Loading;
    if (body.flags !== undefined) {
      flags = (flags & ~MessageFlag.SuppressEmbeds) | (body.flags & MessageFlag.SuppressEmbeds);
      flags |= body.flags & MessageFlag.IsComponentsV2;
    }
    const next: APIMessage = {
      ...current,
      content,
      embeds,
      attachments,
      components: components as APIMessage['components'],
      flags,
      mentions: body.content === undefined ? current.mentions : this.#mentions(content, body),
      // Filling a deferred "thinking" message is its first content, not an edit.
      edited_timestamp: wasLoading ? current.edited_timestamp : new Date().toISOString(),
    };
    message.data = next;
    message.revisions.push(structuredClone(next));
    this.feed.notify();
    return message;
  }

  delete(message: StoredMessage): void {
    message.deleted = true;
    this.feed.notify();
  }

  async #upload(file: RecordedFile, ref: AttachmentRef | undefined, channelId: string, ephemeral: boolean): Promise<APIAttachment> {
    return this.cdn.addUpload(file.bytes, ref?.filename ?? file.name, file.contentType, channelId, ephemeral, ref?.description);
  }

  /** User mentions in the content, filtered by allowed_mentions as Discord does. */
  #mentions(content: string, body: MessageBody): APIUser[] {
    const allowed = body.allowedMentions;
    const parseUsers = allowed === undefined || (allowed.parse ?? []).includes('users' as never);
    const explicit = new Set(allowed?.users ?? []);
    const users: APIUser[] = [];
    const seen = new Set<string>();
    for (const match of content.matchAll(/<@!?(\d{17,20})>/g)) {
      const id = match[1]!;
      if (seen.has(id) || (!parseUsers && !explicit.has(id))) continue;
      seen.add(id);
      const user = this.world.users.get(id);
      if (user) users.push(user);
    }
    return users;
  }
}

/** Discord refuses the whole request when one file is larger than the limit the interaction announced. */
function checkUploads(files: RecordedFile[], sizeLimit: number): void {
  if (files.some((f) => f.bytes.byteLength > sizeLimit)) throw discordErrors.requestEntityTooLarge();
}

function tooManyAttachments() {
  return invalidFormBody([
    { path: ['attachments'], code: 'BASE_TYPE_MAX_LENGTH', message: `Must be ${MAX_ATTACHMENTS} or fewer in length.` },
  ]);
}

/** `files[3]` is index 3; other field names count by position. */
function fileIndex(file: RecordedFile, position: number): number {
  const match = /^files\[(\d+)\]$/.exec(file.field);
  return match ? Number(match[1]) : position;
}

/** New files in the order the `attachments` array lists them, then (on create) any it does not mention. */
function orderNewFiles(
  files: RecordedFile[],
  refs: AttachmentRef[] | undefined,
  mode: 'create' | 'edit',
): { file: RecordedFile; ref: AttachmentRef | undefined }[] {
  const byIndex = new Map(files.map((file, position) => [String(fileIndex(file, position)), file]));
  const out: { file: RecordedFile; ref: AttachmentRef | undefined }[] = [];
  const used = new Set<RecordedFile>();
  for (const ref of refs ?? []) {
    const file = byIndex.get(ref.id);
    if (file && !used.has(file)) {
      used.add(file);
      out.push({ file, ref });
    }
  }
  if (mode === 'create' || refs === undefined) {
    for (const file of files) if (!used.has(file)) out.push({ file, ref: undefined });
  }
  return out;
}

/** Replaces `attachment://name` in embeds with the uploaded file's CDN URL, as Discord does. */
function resolveAttachmentUrls(embeds: APIEmbed[], attachments: APIAttachment[]): APIEmbed[] {
  const find = (url: string | undefined) =>
    url?.startsWith('attachment://') ? attachments.find((a) => a.filename === url.slice('attachment://'.length)) : undefined;
  return embeds.map((embed) => {
    const out: APIEmbed = structuredClone(embed);
    for (const key of ['image', 'thumbnail'] as const) {
      const media = out[key];
      const attachment = find(media?.url);
      if (media && attachment) {
        out[key] = { ...media, url: attachment.url, proxy_url: attachment.proxy_url };
        if (attachment.width && attachment.height) Object.assign(out[key], { width: attachment.width, height: attachment.height });
      }
    }
    const authorIcon = find(out.author?.icon_url);
    if (out.author && authorIcon) out.author = { ...out.author, icon_url: authorIcon.url, proxy_icon_url: authorIcon.proxy_url };
    const footerIcon = find(out.footer?.icon_url);
    if (out.footer && footerIcon) out.footer = { ...out.footer, icon_url: footerIcon.url, proxy_icon_url: footerIcon.proxy_url };
    return out;
  });
}

function isEmpty(
  content: string,
  embeds: APIEmbed[],
  attachments: APIAttachment[],
  components: unknown[],
  body: MessageBody,
): boolean {
  return (
    content.length === 0 &&
    embeds.length === 0 &&
    attachments.length === 0 &&
    components.length === 0 &&
    !body.hasPoll &&
    !body.hasStickers
  );
}

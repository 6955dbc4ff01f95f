import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  StringSelectMenuBuilder,
  type APIActionRowComponent,
  type APIComponentInMessageActionRow,
  type RawFile,
} from 'discord.js';
import type { EncodedBytes, ProgressInfo, ResultInfo } from '../engine/protocol.ts';
import type { CancelledBy, QueueSnapshot } from '../queue/contract.ts';
import { describeOptions } from './stylize-options.ts';

/**
 * What every message about a job says, its buttons and menus (and so every custom id the bot hands out), and how
 * one state of a job's message is sent to Discord.
 */

/** What one state of a job's message shows. */
export interface ReplyPayload {
  content: string;
  /** Replaces any earlier attachment; without it the message has none. */
  file?: { name: string; data: Uint8Array; contentType: string };
  /** Shows a Cancel button for this job id. */
  cancelJobId?: string;
  /** Shows the remix buttons of a finished job. */
  remix?: RemixControls;
}

/**
 * What the messages say about a request besides the job's own events: plain data stored with the job (its
 * Delivery), written when the job is submitted.
 */
export interface JobAbout {
  /** The first line of every state, e.g. a remix's link to the result it came from. */
  heading?: string;
  /** The styles by name ("The Starry Night by Vincent van Gogh (1889)", "your upload"). */
  styles: string[];
  /** What the result's options line needs besides the settings that ran. */
  preset: string | undefined;
  size: number;
  styleScale: number;
  blend: number[];
  /** Set when the inputs were kept for remixing: the result gets the remix buttons. */
  remix?: { biggerSize: number | undefined };
}

/** The remix buttons of one result, as they should look (see remix.ts for what each does). */
export interface RemixControls {
  jobId: string;
  canStrengthen: boolean;
  canSoften: boolean;
  colorsKept: boolean;
  /** The size ⬆️ Bigger would ask for; undefined when the result is already the largest allowed. */
  biggerSize: number | undefined;
}

// Every custom id the bot puts on a component starts with one of these; the router dispatches on them.
export const CANCEL_PREFIX = 'cancel:';
export const REMIX_PREFIX = 'remix:';
export const STYLE_PICK_PREFIX = 'pick:';

export const REMIX_ACTIONS = ['again', 'stronger', 'softer', 'colors', 'bigger'] as const;
export type RemixAction = (typeof REMIX_ACTIONS)[number];

/** `remix:stronger:7KQ2MX` → the action and the source job; undefined for anything else. */
export function parseRemixId(customId: string): { action: RemixAction; jobId: string } | undefined {
  const [prefix, action, jobId, ...rest] = customId.split(':');
  if (`${prefix}:` !== REMIX_PREFIX || rest.length > 0 || !jobId) return undefined;
  return REMIX_ACTIONS.includes(action as RemixAction) ? { action: action as RemixAction, jobId } : undefined;
}

const tag = (jobId: string) => `job \`${jobId}\``;

export function downloadingMessage(): ReplyPayload {
  return { content: '📥 Fetching your images…' };
}

/** A request whose images are all at hand (a remix): nothing to download. */
export function preparingMessage(): ReplyPayload {
  return { content: '📥 Preparing the images…' };
}

export function queuedMessage(jobId: string, position: number): ReplyPayload {
  const where = position <= 1 ? 'next in line' : `position ${position} in line`;
  return { content: `⏳ Queued — ${where} · ${tag(jobId)}`, cancelJobId: jobId };
}

export function startedMessage(jobId: string, info: { size: number; iterations: number; restarted: boolean }): ReplyPayload {
  const prefix = info.restarted ? '🔁 The engine restarted; running your job again' : '🎨 Stylizing';
  return {
    content: `${prefix} at ${info.size} px, up to ${info.iterations} iterations — starting · ${tag(jobId)}`,
    cancelJobId: jobId,
  };
}

export function retryingMessage(jobId: string, size: number): ReplyPayload {
  return {
    content: `⚠️ That was too big for the available memory; retrying at ${size} px · ${tag(jobId)}`,
    cancelJobId: jobId,
  };
}

export function progressMessage(jobId: string, progress: ProgressInfo, preview: EncodedBytes | undefined): ReplyPayload {
  const fraction = progress.total > 0 ? progress.iteration / progress.total : 0;
  const eta = progress.etaMs === undefined ? 'estimating time left' : `~${formatDuration(progress.etaMs)} left`;
  return {
    content:
      `🎨 Stylizing · ${tag(jobId)}\n` +
      `\`${progressBar(fraction)}\` ${percent(fraction)} · iteration ${progress.iteration}/${progress.total} · ` +
      `${formatDuration(progress.elapsedMs)} elapsed · ${eta}`,
    ...(preview && { file: { name: `preview.${preview.extension}`, data: preview.bytes, contentType: preview.mime } }),
    cancelJobId: jobId,
  };
}

/**
 * The result: what it is, the artworks, and the settings that made it as /stylize options with the seed, so that
 * anyone can make it again. `about` is absent for jobs submitted by a bot from before it existed.
 */
export function completedMessage(
  jobId: string,
  result: ResultInfo,
  delivery: { notes: readonly string[]; about?: JobAbout },
  remix?: RemixControls,
): ReplyPayload {
  const { image, settings } = result;
  const { notes, about } = delivery;
  const options = describeOptions({
    preset: about?.preset,
    size: about?.size ?? Math.max(image.width, image.height),
    styleScale: about?.styleScale ?? 1,
    blend: about?.blend ?? [],
    settings,
  });
  const lines = [
    `✅ Done · ${image.width}×${image.height} · ${result.iterations} iterations · ` +
      `${formatDuration(result.seconds * 1000)} · ${result.backend} · ${tag(jobId)}`,
    ...(about && about.styles.length > 0 ? [`🖼️ ${about.styles.join(' + ')}`] : []),
    `⚙️ ${options}`,
  ];
  if (result.stopReason === 'time-limit') {
    lines.push(`⏱️ Stopped at the time limit after ${result.iterations} iterations: this is the best image so far.`);
  }
  if (result.stopReason === 'converged') {
    lines.push(`✔️ Stopped after ${result.iterations} iterations: the image had stopped changing.`);
  }
  if (result.retriedAtSize !== undefined) lines.push(`⚠️ Finished at ${result.retriedAtSize} px after running out of memory.`);
  const imageNote = [...notes, ...(image.note ? [image.note] : [])].join(' ');
  if (imageNote) lines.push(`ℹ️ ${imageNote}`);
  return {
    content: lines.join('\n'),
    file: { name: `stylized.${image.extension}`, data: image.bytes, contentType: image.mime },
    ...(remix && { remix }),
  };
}

/** For failures with no message of their own; the log has the detail under the job id shown with it. */
export const INTERNAL_ERROR_TEXT = 'Sorry, something went wrong on my side. Please try again in a moment.';

export function failedMessage(jobId: string, message: string): ReplyPayload {
  return { content: `❌ ${message} · ${tag(jobId)}` };
}

export function cancelledMessage(jobId: string, by: CancelledBy): ReplyPayload {
  const text =
    by === 'shutdown'
      ? '🔁 The bot is restarting, so this job was stopped. Please try again in a minute.'
      : by === 'admin'
        ? '🛑 Cancelled by a moderator.'
        : '🛑 Cancelled.';
  return { content: `${text} · ${tag(jobId)}` };
}

/** The /queue answer: what runs, how many wait, where the asking user stands, the workers, and totals. */
export function queueSummary(snapshot: QueueSnapshot): string {
  const lines = ['📋 **Style-transfer queue**'];
  if (snapshot.running.length === 0) lines.push('Running: nothing right now.');
  for (const job of snapshot.running) {
    const p = job.progress;
    const progress = p
      ? `\`${progressBar(p.iteration / p.total, 12)}\` ${percent(p.iteration / p.total)} (${p.iteration}/${p.total})` +
        (p.etaMs === undefined ? '' : `, ~${formatDuration(p.etaMs)} left`)
      : 'starting';
    lines.push(`Running: job \`${job.id}\` for <@${job.userId}> at ${job.size} px — ${progress}`);
  }
  const waiting = snapshot.waiting.length;
  lines.push(`Waiting: ${waiting === 0 ? 'nobody' : `${waiting} job${waiting === 1 ? '' : 's'}`}`);
  const mine = snapshot.user?.jobs ?? [];
  lines.push(
    mine.length === 0
      ? 'Your jobs: none.'
      : `Your jobs: ${mine
          .map((j) => (j.state === 'running' ? `\`${j.id}\` running` : `\`${j.id}\` position ${j.position ?? '?'}`))
          .join(', ')}`,
  );
  const busy = snapshot.workers.filter((w) => w.busy).length;
  const backends = [...new Set(snapshot.workers.map((w) => w.backend.name + (w.backend.gpu ? ' (GPU)' : '')))];
  lines.push(
    snapshot.workers.length === 0
      ? '⚠️ Workers: none online right now.'
      : `Workers: ${snapshot.workers.length} online (${busy} busy) · ${backends.join(', ')}`,
  );
  const { completed, failed, cancelled } = snapshot.totals;
  const average = completed.avgDurationMs === undefined ? '' : ` (avg ${formatDuration(completed.avgDurationMs)})`;
  lines.push(`So far: ${completed.count} completed${average} · ${failed.count} failed · ${cancelled.count} cancelled`);
  if (!snapshot.accepting) lines.push('⚠️ The bot is restarting and not taking new jobs.');
  return lines.join('\n');
}

export function cancelButtonRow(jobId: string): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(`${CANCEL_PREFIX}${jobId}`).setLabel('Cancel').setStyle(ButtonStyle.Danger),
  );
}

export function remixButtonRow(controls: RemixControls): ActionRowBuilder<ButtonBuilder> {
  const button = (action: RemixAction, emoji: string, label: string, enabled = true) =>
    new ButtonBuilder()
      .setCustomId(`${REMIX_PREFIX}${action}:${controls.jobId}`)
      .setEmoji({ name: emoji })
      .setLabel(label)
      .setStyle(ButtonStyle.Secondary)
      .setDisabled(!enabled);
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    button('again', '🎲', 'Again'),
    button('stronger', '➕', 'Stronger', controls.canStrengthen),
    button('softer', '➖', 'Softer', controls.canSoften),
    button('colors', '🎨', controls.colorsKept ? 'Style’s colours' : 'Keep colours'),
    button('bigger', '⬆️', controls.biggerSize ? `Bigger (${controls.biggerSize} px)` : 'Bigger', controls.biggerSize !== undefined),
  );
}

/** The private menu of "Stylize this image": one option per style, `value` as /stylize preset takes it. */
export function stylePickMenu(
  pickId: string,
  choices: readonly { name: string; value: string }[],
): ActionRowBuilder<StringSelectMenuBuilder> {
  return new ActionRowBuilder<StringSelectMenuBuilder>().addComponents(
    new StringSelectMenuBuilder()
      .setCustomId(`${STYLE_PICK_PREFIX}${pickId}`)
      .setPlaceholder('Pick a style')
      .addOptions(choices.map((c) => ({ label: c.name.slice(0, 100), value: c.value }))),
  );
}

/**
 * The same JSON body and files serve the interaction webhook route and the channel-message route, so a job's
 * message looks the same whichever route delivers it. `attachments` lists exactly the new file, which drops
 * any earlier preview.
 */
export function toRestMessage(
  payload: ReplyPayload,
  mention?: { userId: string },
): { body: Record<string, unknown>; files: RawFile[] } {
  const content = mention ? `<@${mention.userId}> ${payload.content}` : payload.content;
  const { file } = payload;
  return {
    body: {
      content,
      components: componentsOf(payload),
      attachments: file ? [{ id: 0, filename: file.name }] : [],
      allowed_mentions: mention ? { parse: [], users: [mention.userId] } : { parse: [] },
    },
    files: file
      ? [{ key: 'files[0]', name: file.name, data: Buffer.from(file.data.buffer, file.data.byteOffset, file.data.byteLength), contentType: file.contentType }]
      : [],
  };
}

function componentsOf(payload: ReplyPayload): APIActionRowComponent<APIComponentInMessageActionRow>[] {
  if (payload.cancelJobId) return [cancelButtonRow(payload.cancelJobId).toJSON()];
  if (payload.remix) return [remixButtonRow(payload.remix).toJSON()];
  return [];
}

export function progressBar(fraction: number, width = 20): string {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const filled = Math.round(clamped * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

export function percent(fraction: number): string {
  return `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

/** Compact number for weights: 5, 100, 0.001, 1e+6. */
export function formatWeight(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 1e5 || Math.abs(value) < 1e-3) return value.toExponential(0);
  return String(Number(value.toPrecision(3)));
}

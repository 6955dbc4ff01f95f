import { ActionRowBuilder, ButtonBuilder, ButtonStyle, type RawFile } from 'discord.js';
import type { EncodedBytes, ProgressInfo, ResultInfo } from '../engine/protocol.ts';
import type { CancelledBy, QueueSnapshot } from '../queue/contract.ts';

/** What every message about a job says, and how one state of a job's message is sent to Discord. */

/** What one state of a job's message shows. */
export interface ReplyPayload {
  content: string;
  /** Replaces any earlier attachment; without it the message has none. */
  file?: { name: string; data: Uint8Array; contentType: string };
  /** Shows a Cancel button for this job id. */
  cancelJobId?: string;
}

export const CANCEL_PREFIX = 'cancel:';

const tag = (jobId: string) => `job \`${jobId}\``;

export function downloadingMessage(): ReplyPayload {
  return { content: '📥 Fetching your images…' };
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

export function completedMessage(jobId: string, result: ResultInfo, notes: readonly string[]): ReplyPayload {
  const { image, settings } = result;
  const lines = [
    `✅ Done · ${image.width}×${image.height} · ${result.iterations} iterations · ` +
      `${formatDuration(result.seconds * 1000)} · ${result.backend}`,
    `weights: content ${formatWeight(settings.contentWeight)} · style ${formatWeight(settings.styleWeight)} · ` +
      `tv ${formatWeight(settings.tvWeight)} · seed ${settings.seed ?? '?'} · ${tag(jobId)}`,
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
      components: payload.cancelJobId ? [cancelButtonRow(payload.cancelJobId).toJSON()] : [],
      attachments: file ? [{ id: 0, filename: file.name }] : [],
      allowed_mentions: mention ? { parse: [], users: [mention.userId] } : { parse: [] },
    },
    files: file
      ? [{ key: 'files[0]', name: file.name, data: Buffer.from(file.data.buffer, file.data.byteOffset, file.data.byteLength), contentType: file.contentType }]
      : [],
  };
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

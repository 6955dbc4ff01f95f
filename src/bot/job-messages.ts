import type { LossTerms, StylizeSettings } from '../engine/types.ts';
import { formatDuration, formatWeight, percent, progressBar } from './progress-text.ts';
import type { ReplyPayload } from './reply-payload.ts';

/** The text of every state a job's public message goes through. */

const tag = (jobId: string) => `job \`${jobId}\``;

export function downloadingMessage(): ReplyPayload {
  return { content: '📥 Fetching your images…' };
}

export function queuedMessage(jobId: string, position: number): ReplyPayload {
  const where = position <= 1 ? 'next in line' : `position ${position} in line`;
  return { content: `⏳ Queued — ${where} · ${tag(jobId)}`, cancelJobId: jobId };
}

export function startedMessage(jobId: string, info: { size: number; iterations: number }): ReplyPayload {
  return {
    content: `🎨 Stylizing at ${info.size} px, ${info.iterations} iterations — starting · ${tag(jobId)}`,
    cancelJobId: jobId,
  };
}

export function retryingMessage(jobId: string, size: number): ReplyPayload {
  return {
    content: `⚠️ That was too big for the available memory; retrying at ${size} px · ${tag(jobId)}`,
    cancelJobId: jobId,
  };
}

export interface ProgressView {
  iteration: number;
  total: number;
  elapsedMs: number;
  etaMs: number | undefined;
}

export function progressMessage(
  jobId: string,
  view: ProgressView,
  preview: { data: Buffer; extension: string; mime: string } | undefined,
): ReplyPayload {
  const fraction = view.total > 0 ? view.iteration / view.total : 0;
  const eta = view.etaMs === undefined ? 'estimating time left' : `~${formatDuration(view.etaMs)} left`;
  return {
    content:
      `🎨 Stylizing · ${tag(jobId)}\n` +
      `\`${progressBar(fraction)}\` ${percent(fraction)} · iteration ${view.iteration}/${view.total} · ` +
      `${formatDuration(view.elapsedMs)} elapsed · ${eta}`,
    ...(preview && {
      file: { name: `preview.${preview.extension}`, data: preview.data, contentType: preview.mime },
    }),
    cancelJobId: jobId,
  };
}

export interface CompletedView {
  width: number;
  height: number;
  iterations: number;
  seconds: number;
  backend: string;
  settings: Pick<StylizeSettings, 'contentWeight' | 'styleWeight' | 'tvWeight'>;
  loss: LossTerms;
  timedOut: boolean;
  retriedAtSize: number | undefined;
  imageNote: string | undefined;
}

export function completedMessage(
  jobId: string,
  view: CompletedView,
  image: { data: Buffer; extension: string; mime: string },
): ReplyPayload {
  const notes: string[] = [];
  if (view.timedOut) notes.push(`⏱️ Stopped at the time limit after ${view.iterations} iterations: this is the best image so far.`);
  if (view.retriedAtSize !== undefined) notes.push(`⚠️ Finished at ${view.retriedAtSize} px after running out of memory.`);
  if (view.imageNote) notes.push(`ℹ️ ${view.imageNote}`);
  const { contentWeight, styleWeight, tvWeight } = view.settings;
  return {
    content: [
      `✅ Done · ${view.width}×${view.height} · ${view.iterations} iterations · ${formatDuration(view.seconds * 1000)} · ${view.backend}`,
      `weights: content ${formatWeight(contentWeight)} · style ${formatWeight(styleWeight)} · tv ${formatWeight(tvWeight)} · ${tag(jobId)}`,
      ...notes,
    ].join('\n'),
    file: { name: `stylized.${image.extension}`, data: image.data, contentType: image.mime },
  };
}

/** For failures with no message of their own; the log has the detail under the job id shown with it. */
export const INTERNAL_ERROR_TEXT = 'Sorry, something went wrong on my side. Please try again in a moment.';

export function failedMessage(jobId: string, message: string): ReplyPayload {
  return { content: `❌ ${message} · ${tag(jobId)}` };
}

export function cancelledMessage(jobId: string, by: 'owner' | 'admin' | 'shutdown'): ReplyPayload {
  const text =
    by === 'shutdown'
      ? '🔁 The bot is restarting, so this job was stopped. Please try again in a minute.'
      : by === 'admin'
        ? '🛑 Cancelled by a moderator.'
        : '🛑 Cancelled.';
  return { content: `${text} · ${tag(jobId)}` };
}

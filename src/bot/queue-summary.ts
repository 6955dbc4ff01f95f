import type { QueueSnapshot } from '../queue/index.ts';
import { formatDuration, percent, progressBar } from './progress-text.ts';

/** The /queue answer: what runs, how many wait, where the asking user stands, and how jobs went so far. */
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
  lines.push(`Waiting: ${snapshot.queuedCount === 0 ? 'nobody' : `${snapshot.queuedCount} job${snapshot.queuedCount === 1 ? '' : 's'}`}`);
  const mine = snapshot.user?.jobs ?? [];
  lines.push(
    mine.length === 0
      ? 'Your jobs: none.'
      : `Your jobs: ${mine
          .map((j) => (j.state === 'running' ? `\`${j.id}\` running` : `\`${j.id}\` position ${j.position ?? '?'}`))
          .join(', ')}`,
  );
  const { completed, failed, cancelled } = snapshot.totals;
  const average = completed.avgDurationMs === undefined ? '' : ` (avg ${formatDuration(completed.avgDurationMs)})`;
  lines.push(`So far: ${completed.count} completed${average} · ${failed.count} failed · ${cancelled.count} cancelled`);
  if (!snapshot.accepting) lines.push('⚠️ The bot is restarting and not taking new jobs.');
  return lines.join('\n');
}

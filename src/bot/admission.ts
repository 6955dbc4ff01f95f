import { queueFullMessage, SHUTTING_DOWN_MESSAGE, userLimitMessage } from '../queue/index.ts';
import type { BotContext } from './bot-context.ts';

/**
 * The queue's own limits, checked before the public defer so a refusal can still be ephemeral. Requests that
 * are downloading count as active, so two quick /stylize calls cannot both slip past the per-user limit.
 */
export function admissionRefusal(context: BotContext, userId: string): string | undefined {
  const snapshot = context.queue.snapshot(userId);
  if (!snapshot.accepting) return SHUTTING_DOWN_MESSAGE;
  const pending = context.preparing.countFor(userId);
  const active = snapshot.user?.jobs.map((job) => job.id) ?? [];
  if (active.length + pending >= context.config.queue.maxJobsPerUser) {
    return active.length > 0
      ? userLimitMessage(active)
      : 'Your previous request is still being prepared. Please wait for it to reach the queue.';
  }
  const pendingAll = context.preparing.size;
  // Requests still downloading take the free slots first: only the rest will wait in line.
  const freeSlots = Math.max(0, snapshot.concurrency - snapshot.running.length);
  const waitingSoon = snapshot.queuedCount + Math.max(0, pendingAll - freeSlots);
  if (waitingSoon >= snapshot.maxQueue) return queueFullMessage(waitingSoon);
  return undefined;
}

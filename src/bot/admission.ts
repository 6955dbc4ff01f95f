import type { BotContext } from './bot-context.ts';

/**
 * The queue's own limits, checked before the public defer so a refusal can still be ephemeral. Requests that
 * are downloading count as active, so two quick /stylize calls cannot both slip past the per-user limit.
 */
export function admissionRefusal(context: BotContext, userId: string): string | undefined {
  const snapshot = context.queue.snapshot(userId);
  if (!snapshot.accepting) return 'The bot is restarting. Please try again in a minute.';
  const pending = context.pendingUsers.get(userId) ?? 0;
  const active = (snapshot.user?.jobs.length ?? 0) + pending;
  if (active >= context.config.queue.maxJobsPerUser) {
    const id = snapshot.user?.jobs[0]?.id;
    return id
      ? `You already have a job in progress (job \`${id}\`). Please wait for it to finish, or cancel it first.`
      : 'Your previous request is still being prepared. Please wait for it to reach the queue.';
  }
  let pendingAll = 0;
  for (const count of context.pendingUsers.values()) pendingAll += count;
  if (snapshot.queuedCount + pendingAll >= snapshot.maxQueue) {
    return `The queue is full (${snapshot.queuedCount} waiting). Please try again in a few minutes.`;
  }
  return undefined;
}

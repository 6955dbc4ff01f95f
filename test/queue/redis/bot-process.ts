/**
 * A bot process's queue side, alone in its own process (test-only): a RedisQueue whose sink reports every event to
 * the parent over IPC, driven by the parent's messages. Started with `fork` and a JSON config:
 *
 *   { url, prefix, options?: Partial<RedisQueueOptions>, guildCaps?: { [guildId]: maxJobs }, hangOnFinal?: boolean }
 *
 * `hangOnFinal` makes the sink's promise for a final event never resolve, as a bot that dies while uploading the
 * result would. Messages in: { id, op: 'reserve' | 'add' | 'burst' | 'cancel' | 'snapshot' | 'shutdown', … };
 * replies out: { id, reply }; events out: { event: { jobId, type, detail } }.
 */
import { RedisQueue, type RedisQueueOptions } from '../../../src/queue/redis-queue.ts';
import type { JobOwner } from '../../../src/queue/contract.ts';
import { testInput } from '../helpers.ts';

interface Config {
  url: string;
  prefix: string;
  options?: Partial<RedisQueueOptions>;
  guildCaps?: Record<string, number>;
  hangOnFinal?: boolean;
}

type Message =
  | { id: number; op: 'reserve'; owner: JobOwner }
  | { id: number; op: 'add'; owner: JobOwner; iterations?: number; size?: number }
  | { id: number; op: 'burst'; owners: JobOwner[]; submit?: boolean }
  | { id: number; op: 'cancel'; jobId: string; userId: string }
  | { id: number; op: 'snapshot' }
  | { id: number; op: 'shutdown' };

const config = JSON.parse(process.argv[2]!) as Config;
const send = (message: unknown) => process.send!(message);

const queue = new RedisQueue<{ tag: string }>({
  url: config.url,
  prefix: config.prefix,
  maxQueue: 20,
  maxJobsPerUser: 1,
  timeoutMs: 10_000,
  maxSize: 1024,
  maxIterations: 100_000,
  previewEveryMs: 1_000,
  dataTtlMs: 600_000,
  ...config.options,
  maxJobsPerGuild: (guildId) => config.guildCaps?.[guildId],
});

await queue.start((job, event) => {
  const detail =
    event.type === 'queued' || event.type === 'position'
      ? event.position
      : event.type === 'started'
        ? event.restarted
        : event.type === 'failed'
          ? event.failure.code
          : event.type === 'cancelled'
            ? event.by
            : event.type === 'completed'
              ? event.result.image.bytes.length
              : undefined;
  send({ event: { jobId: job.jobId, type: event.type, detail, bot: queue.botId, at: performance.timeOrigin + performance.now() } });
  if (config.hangOnFinal && (event.type === 'completed' || event.type === 'failed' || event.type === 'cancelled')) {
    return new Promise<void>(() => undefined);
  }
});

async function add(owner: JobOwner, iterations = 5, size = 256) {
  const reserved = await queue.reserve(owner);
  if (!('jobId' in reserved)) return reserved;
  const submitted = await queue.submit(reserved, testInput(size, iterations), { tag: owner.userId });
  return submitted.accepted ? { jobId: reserved.jobId, position: submitted.position } : submitted;
}

process.on('message', (message: Message) => {
  void (async () => {
    let reply: unknown;
    switch (message.op) {
      case 'reserve':
        reply = await queue.reserve(message.owner);
        break;
      case 'add':
        reply = await add(message.owner, message.iterations, message.size);
        break;
      case 'burst':
        // Every request at once, as a busy shard would see them.
        reply = await Promise.all(message.owners.map((owner) => (message.submit ? add(owner) : queue.reserve(owner))));
        break;
      case 'cancel':
        reply = await queue.cancel(message.jobId, { userId: message.userId, privileged: false });
        break;
      case 'snapshot':
        reply = await queue.snapshot();
        break;
      case 'shutdown':
        await queue.shutdown();
        send({ id: message.id, reply: 'ok' });
        process.exit(0);
    }
    send({ id: message.id, reply });
  })();
});
send({ ready: queue.botId });

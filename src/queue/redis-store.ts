import { Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import type { ProgressInfo, ResultInfo } from '../engine/protocol.ts';
import type { BackendInfo, PresetName, StylizeSettings } from '../engine/types.ts';
import type { RgbImage } from '../images/rgb-image.ts';
import type { CancelledBy, CancelResult, FinalState, JobInput, OutcomeTotals } from './contract.ts';
import type { FinalEvent } from './job-rules.ts';

/**
 * The queue's data in Redis, shared by the bot side (RedisQueue) and the worker side (RedisWorker), and the Lua
 * scripts that change it atomically. BullMQ (queue `stylize`, keys `<prefix>:stylize:*`) holds the line and hands
 * jobs to workers; beside it, under `<prefix>:*`:
 *
 * | key | type | what |
 * | --- | --- | --- |
 * | `claim` | hash id → {u,g} | every job from reservation to its end: who asked, from which server |
 * | `user:<id>`, `guild:<id>` | zset id → time | the same jobs per user and per server, for the caps |
 * | `held` | zset id → expiry | reservations not yet submitted; they lapse |
 * | `queued`, `running` | set | submitted jobs not yet started, and started ones |
 * | `img:<id>` | hash, TTL | the decoded images (raw RGB), one field each |
 * | `cancel:<id>` | string, TTL | who cancelled it; the worker running it is told on channel `cancel` |
 * | `preview:<id>` | string, TTL | the newest progress preview (JPEG bytes) |
 * | `result:<id>` | string, TTL | the encoded result, until a bot has delivered it |
 * | `ended` | hash id → JSON | each ended job's final event and delivery info, until delivered |
 * | `deliver:<id>` | string, TTL | the lock of the bot delivering it |
 * | `finished` | zset id → time | the last 1000 ended ids, for "already finished" |
 * | `stats` | hash | counts and run times by outcome |
 * | `bots`, `workers` | hash id → heartbeat | processes online |
 *
 * A claim exists exactly while the job has not ended: the `finish` script writes the final event and drops the
 * claim in one step, and refuses when there is no claim, so every job ends once whoever ends it (a worker, a bot
 * cancelling a waiting job, a bot turning BullMQ's own failure into a message). The scripts build key names from
 * the prefix, as BullMQ's do: one Redis (or a primary with replicas), not Redis Cluster.
 */

export const QUEUE_NAME = 'stylize';
/** The custom event `finish` adds to BullMQ's event stream, so that bots hear of ends the same way as of progress. */
export const ENDED_EVENT = 'job-ended';
/** BullMQ's reason for a job whose worker died more often than maxStalledCount allows. */
export const STALLED_REASON = 'job stalled more than allowable limit';

/** The connection roles: the bot fails fast while Redis is down; a worker waits for it. */
export function redisOptions(url: string, role: 'bot' | 'worker', timing: { commandTimeoutMs?: number } = {}): RedisOptions & { url: string } {
  const common: RedisOptions = {
    // Reconnect quickly and for ever: a restarted Redis is back within seconds.
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
    connectTimeout: 5_000,
    lazyConnect: false,
  };
  if (role === 'bot') {
    return {
      url,
      ...common,
      // A command while disconnected fails at once, so that /stylize is refused instead of hanging.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timing.commandTimeoutMs ?? 3_000,
    };
  }
  return { url, ...common, enableOfflineQueue: true, maxRetriesPerRequest: null };
}

export function createRedis(options: RedisOptions & { url: string }): Redis {
  const { url, ...rest } = options;
  const redis = new Redis(url, rest);
  defineScripts(redis);
  return redis;
}

/** Resolves when `redis` is connected; rejects after `timeoutMs` with the last connection error. */
export async function waitUntilReady(redis: Redis, timeoutMs: number, what: string): Promise<void> {
  if (redis.status === 'ready') return;
  let lastError: unknown;
  const onError = (error: unknown) => (lastError = error);
  redis.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        redis.off('ready', onReady);
        const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
        reject(new Error(`could not reach Redis at ${what} within ${Math.round(timeoutMs / 1000)} s${reason}`));
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      redis.once('ready', onReady);
    });
  } finally {
    redis.off('error', onError);
  }
}

export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Command timed out|connect|MaxRetriesPerRequest|LOADING|READONLY/i.test(
    error.message,
  );
}

// --- What BullMQ's job data holds ---------------------------------------------------------------------------

const dims = z.object({ width: z.number().int().min(1).max(16_384), height: z.number().int().min(1).max(16_384) }).strict();

/** The request and where its messages go; the images are beside it under `img:<id>`. */
export interface JobData<D> {
  v: 1;
  userId: string;
  guildId: string | null;
  /** The bot process that submitted it and forwards its events while alive. */
  bot: string;
  delivery: D;
  createdAt: number;
  size: number;
  iterations: number;
  preset?: PresetName;
  settings: Partial<StylizeSettings>;
  resultMaxBytes: number;
  timeLimitMs: number;
  previewEveryMs: number;
  content: { width: number; height: number };
  styles: { width: number; height: number; weight: number }[];
}

const jobDataSchema = z.object({
  v: z.literal(1),
  userId: z.string().min(1).max(64),
  guildId: z.string().max(64).nullable(),
  bot: z.string().max(200),
  delivery: z.unknown(),
  createdAt: z.number(),
  size: z.number().int().min(1).max(16_384),
  iterations: z.number().int().min(1).max(1_000_000),
  preset: z.enum(['default', 'seed', 'keras']).optional(),
  settings: z.record(z.string(), z.unknown()),
  resultMaxBytes: z.number().int().min(1),
  timeLimitMs: z.number().int().min(1),
  previewEveryMs: z.number().int().min(1),
  content: dims,
  styles: z.array(dims.extend({ weight: z.number().min(0) })).min(1).max(8),
});

/** The job data as a worker receives it from Redis: checked, since whatever is in Redis is not trusted blindly. */
export function parseJobData(value: unknown): JobData<unknown> | undefined {
  const parsed = jobDataSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function jobData<D>(
  owner: { userId: string; guildId: string | undefined },
  bot: string,
  delivery: D,
  input: JobInput,
  run: { size: number; iterations: number; timeLimitMs: number; previewEveryMs: number; createdAt: number },
): JobData<D> {
  return {
    v: 1,
    userId: owner.userId,
    guildId: owner.guildId ?? null,
    bot,
    delivery,
    createdAt: run.createdAt,
    size: run.size,
    iterations: run.iterations,
    ...(input.preset !== undefined && { preset: input.preset }),
    settings: input.settings,
    resultMaxBytes: input.resultMaxBytes,
    timeLimitMs: run.timeLimitMs,
    previewEveryMs: run.previewEveryMs,
    content: { width: input.content.width, height: input.content.height },
    styles: input.styles.map((s) => ({ width: s.image.width, height: s.image.height, weight: s.weight })),
  };
}

// --- What travels through BullMQ's progress events ----------------------------------------------------------

type PreviewMeta = { mime: string; extension: string; width: number; height: number };

/**
 * A running job's news, sent with `job.updateProgress` (stored on the job for /queue, and added to BullMQ's event
 * stream for the bots). A preview's bytes are not in it: they are under `preview:<id>`, read by the one bot that
 * forwards the job, so that the event stream (10,000 entries) never holds images.
 */
export type ProgressPayload = { bot: string } & (
  | { type: 'started'; size: number; iterations: number; restarted: boolean }
  | { type: 'retrying'; size: number; reason: 'out-of-memory' }
  | ({ type: 'progress' } & Omit<ProgressInfo, 'preview'> & { preview?: PreviewMeta })
);

// --- What an ended job leaves until a bot has delivered it --------------------------------------------------

/** A final event as stored: a result without its bytes (they are under `result:<id>`). */
export type StoredFinal =
  | Exclude<FinalEvent, { type: 'completed' }>
  | { type: 'completed'; result: Omit<ResultInfo, 'image'> & { image: Omit<ResultInfo['image'], 'bytes'> } };

export interface EndedJob<D> {
  ref: { jobId: string; userId: string; guildId: string | null; delivery: D };
  /** The bot that submitted it: it delivers while alive. */
  home: string;
}

export interface EndedEntry<D> {
  job: EndedJob<D>;
  event: StoredFinal;
  endedAt: number;
}

export function storedFinal(event: FinalEvent): StoredFinal {
  if (event.type !== 'completed') return event;
  const { bytes: _bytes, ...image } = event.result.image;
  return { type: 'completed', result: { ...event.result, image } };
}

// --- Processes online -----------------------------------------------------------------------------------------

/** One `npm run worker` process, as it registers itself every few seconds. */
export interface WorkerRecord {
  id: string;
  /** Jobs it runs at once (its engine pool's size). */
  slots: number;
  busy: number;
  engines: { id: string; backend: BackendInfo; busy: boolean }[];
  weights: string;
  seenAt: number;
}

// --- The scripts --------------------------------------------------------------------------------------------

const PRELUDE = `
local P = ARGV[1]
local function dropClaim(id)
  local raw = redis.call('HGET', P .. ':claim', id)
  if not raw then return false end
  local owner = cjson.decode(raw)
  redis.call('ZREM', P .. ':user:' .. owner.u, id)
  if owner.g ~= '' then redis.call('ZREM', P .. ':guild:' .. owner.g, id) end
  redis.call('HDEL', P .. ':claim', id)
  redis.call('ZREM', P .. ':held', id)
  redis.call('SREM', P .. ':queued', id)
  redis.call('SREM', P .. ':running', id)
  return true
end
local function lapse(now)
  local ids = redis.call('ZRANGEBYSCORE', P .. ':held', '-inf', now)
  for _, id in ipairs(ids) do dropClaim(id) end
  return #ids
end
local function taken(id)
  return redis.call('HEXISTS', P .. ':claim', id) == 1 or redis.call('HEXISTS', P .. ':ended', id) == 1
    or redis.call('ZSCORE', P .. ':finished', id) ~= false
end
-- The caps, as LocalQueue applies them: nil when the owner may have one more job, else {reason, detail...}.
local function refusal(userId, guildId, maxUser, guildCap, maxQueue, slots)
  local mine = redis.call('ZRANGE', P .. ':user:' .. userId, 0, -1)
  if #mine >= maxUser then
    local result = {'user-limit'}
    for _, id in ipairs(mine) do
      if redis.call('ZSCORE', P .. ':held', id) == false then table.insert(result, id) end
    end
    return result
  end
  if guildId ~= '' and guildCap > 0 and redis.call('ZCARD', P .. ':guild:' .. guildId) >= guildCap then
    return {'guild-limit'}
  end
  -- Reserved jobs take the free worker slots first; only the rest will wait in line.
  local free = math.max(0, slots - redis.call('SCARD', P .. ':running'))
  local waitingSoon = redis.call('SCARD', P .. ':queued') + math.max(0, redis.call('ZCARD', P .. ':held') - free)
  if waitingSoon >= maxQueue then return {'queue-full', tostring(waitingSoon)} end
  return nil
end
local function claim(id, userId, guildId, now)
  redis.call('HSET', P .. ':claim', id, cjson.encode({u = userId, g = guildId}))
  redis.call('ZADD', P .. ':user:' .. userId, now, id)
  if guildId ~= '' then redis.call('ZADD', P .. ':guild:' .. guildId, now, id) end
end
`;

const SCRIPTS = {
  // ARGV: P, now, expiry, id, userId, guildId, maxUser, guildCap (0: none), maxQueue, slots
  reserve: `
local now = tonumber(ARGV[2])
local lapsed = lapse(now)
local id, userId, guildId = ARGV[4], ARGV[5], ARGV[6]
if taken(id) then return {'taken'} end
local r = refusal(userId, guildId, tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]))
if r then return r end
claim(id, userId, guildId, now)
redis.call('ZADD', P .. ':held', ARGV[3], id)
return {'ok', tostring(lapsed)}`,
  // ARGV: P, now, id, userId, guildId, maxUser, guildCap, maxQueue, slots
  submit: `
local now = tonumber(ARGV[2])
lapse(now)
local id, userId, guildId = ARGV[3], ARGV[4], ARGV[5]
if redis.call('ZREM', P .. ':held', id) == 1 then
  redis.call('SADD', P .. ':queued', id)
  return {'ok'}
end
if taken(id) then return {'taken'} end
-- The reservation lapsed: admit the job only if the caps hold now.
local r = refusal(userId, guildId, tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]))
if r then return r end
claim(id, userId, guildId, now)
redis.call('SADD', P .. ':queued', id)
return {'ok', 'late'}`,
  // ARGV: P, id
  release: `
if redis.call('ZSCORE', P .. ':held', ARGV[2]) ~= false then dropClaim(ARGV[2]) return 1 end
return 0`,
  // ARGV: P, id. A worker about to run a job: {'run'}, {'cancel'} (cancelled before it started) or {'ended'}.
  start: `
local id = ARGV[2]
if redis.call('HEXISTS', P .. ':claim', id) == 0 or redis.call('HEXISTS', P .. ':ended', id) == 1 then return {'ended'} end
redis.call('SREM', P .. ':queued', id)
redis.call('SADD', P .. ':running', id)
if redis.call('EXISTS', P .. ':cancel:' .. id) == 1 then return {'cancel'} end
return {'run'}`,
  // ARGV: P, id, job JSON, final event JSON, state, run time in ms ('' if it never ran), now, events stream key
  finish: `
local id = ARGV[2]
if redis.call('HEXISTS', P .. ':claim', id) == 0 then return 0 end
local event, state = ARGV[4], ARGV[5]
-- A cancel wins over whatever outcome raced it.
local by = redis.call('GET', P .. ':cancel:' .. id)
if by then
  if by ~= 'owner' then by = 'admin' end
  event = '{"type":"cancelled","by":"' .. by .. '"}'
  state = 'cancelled'
end
redis.call('HSET', P .. ':ended', id, '{"job":' .. ARGV[3] .. ',"event":' .. event .. ',"endedAt":' .. ARGV[7] .. '}')
dropClaim(id)
redis.call('DEL', P .. ':img:' .. id)
redis.call('ZADD', P .. ':finished', ARGV[7], id)
redis.call('ZREMRANGEBYRANK', P .. ':finished', 0, -1001)
redis.call('HINCRBY', P .. ':stats', state .. ':count', 1)
if ARGV[6] ~= '' then
  redis.call('HINCRBY', P .. ':stats', state .. ':timed', 1)
  redis.call('HINCRBY', P .. ':stats', state .. ':ms', math.floor(tonumber(ARGV[6])))
end
redis.call('XADD', ARGV[8], 'MAXLEN', '~', 10000, '*', 'event', '${ENDED_EVENT}', 'jobId', id)
return 1`,
  // ARGV: P, id, userId, privileged ('1'/'0'), ttl ms
  cancel: `
local id = ARGV[2]
local raw = redis.call('HGET', P .. ':claim', id)
if not raw or redis.call('ZSCORE', P .. ':held', id) ~= false then
  if redis.call('HEXISTS', P .. ':ended', id) == 1 or redis.call('ZSCORE', P .. ':finished', id) ~= false then
    return {'already-finished'}
  end
  return {'not-found'}
end
local owner = cjson.decode(raw)
local by
if owner.u == ARGV[3] then by = 'owner' elseif ARGV[4] == '1' then by = 'admin' else return {'not-allowed'} end
redis.call('SET', P .. ':cancel:' .. id, by, 'PX', ARGV[5], 'NX')
redis.call('PUBLISH', P .. ':cancel', id)
local state = 'running'
if redis.call('SISMEMBER', P .. ':queued', id) == 1 then state = 'queued' end
return {'cancelled', redis.call('GET', P .. ':cancel:' .. id), state}`,
  // ARGV: P, id. A job that vanished from BullMQ without an end (Redis lost it): its places are given back.
  drop: `
if redis.call('HEXISTS', P .. ':ended', ARGV[2]) == 1 then return 0 end
if dropClaim(ARGV[2]) then return 1 end
return 0`,
  // ARGV: P, id, bot, ttl ms
  lockDelivery: `
local lock = P .. ':deliver:' .. ARGV[2]
if redis.call('HEXISTS', P .. ':ended', ARGV[2]) == 0 then return 0 end
if redis.call('SET', lock, ARGV[3], 'PX', ARGV[4], 'NX') then return 1 end
if redis.call('GET', lock) == ARGV[3] then redis.call('PEXPIRE', lock, ARGV[4]) return 1 end
return 0`,
  // ARGV: P, id, bot. Delivered: the job leaves nothing behind.
  delivered: `
local id = ARGV[2]
local lock = P .. ':deliver:' .. id
local holder = redis.call('GET', lock)
if holder and holder ~= ARGV[3] then return 0 end
redis.call('HDEL', P .. ':ended', id)
redis.call('DEL', lock, P .. ':result:' .. id, P .. ':preview:' .. id, P .. ':cancel:' .. id, P .. ':img:' .. id)
return 1`,
} as const;

type ScriptName = keyof typeof SCRIPTS;
const COMMAND_PREFIX = 'stylebot_';

function defineScripts(redis: Redis): void {
  for (const [name, body] of Object.entries(SCRIPTS)) {
    redis.defineCommand(`${COMMAND_PREFIX}${name}`, { numberOfKeys: 0, lua: PRELUDE + body });
  }
}

export type ReserveReply = ['ok', string] | ['taken'] | ['user-limit', ...string[]] | ['guild-limit'] | ['queue-full', string];
export type SubmitReply = ['ok'] | ['ok', 'late'] | ['taken'] | ['user-limit', ...string[]] | ['guild-limit'] | ['queue-full', string];
export type CancelReply = [Exclude<CancelResult, 'cancelled'>] | ['cancelled', CancelledBy, 'queued' | 'running'];

/** The caps a reservation or a late submit is checked against. */
export interface Caps {
  maxJobsPerUser: number;
  /** 0: none. */
  guildCap: number;
  maxQueue: number;
  /** Worker slots online, so that reserved jobs count as waiting only beyond the free ones. */
  slots: number;
}

/** The prefix's keys and the scripts, over one connection. */
export class RedisStore {
  readonly redis: Redis;
  readonly prefix: string;
  readonly dataTtlMs: number;

  constructor(redis: Redis, prefix: string, dataTtlMs: number) {
    this.redis = redis;
    this.prefix = prefix;
    this.dataTtlMs = dataTtlMs;
  }

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  #script(name: ScriptName, ...args: (string | number)[]): Promise<unknown> {
    const command = (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[
      `${COMMAND_PREFIX}${name}`
    ]!;
    return command.call(this.redis, this.prefix, ...args);
  }

  reserve(id: string, owner: { userId: string; guildId: string | undefined }, caps: Caps, now: number, expiry: number): Promise<ReserveReply> {
    return this.#script('reserve', now, expiry, id, owner.userId, owner.guildId ?? '', caps.maxJobsPerUser, caps.guildCap, caps.maxQueue, caps.slots) as Promise<ReserveReply>;
  }

  submit(id: string, owner: { userId: string; guildId: string | undefined }, caps: Caps, now: number): Promise<SubmitReply> {
    return this.#script('submit', now, id, owner.userId, owner.guildId ?? '', caps.maxJobsPerUser, caps.guildCap, caps.maxQueue, caps.slots) as Promise<SubmitReply>;
  }

  async release(id: string): Promise<boolean> {
    return (await this.#script('release', id)) === 1;
  }

  async start(id: string): Promise<'run' | 'cancel' | 'ended'> {
    const [verdict] = (await this.#script('start', id)) as ['run' | 'cancel' | 'ended'];
    return verdict;
  }

  /** Ends the job with `event` unless it has ended already (then false). A pending cancel turns it into `cancelled`. */
  async finish<D>(job: EndedJob<D>, event: FinalEvent, runMs: number | undefined, now: number, eventsKey: string): Promise<boolean> {
    const stored = storedFinal(event);
    const state: FinalState = event.type;
    const reply = await this.#script(
      'finish',
      job.ref.jobId,
      JSON.stringify(job),
      JSON.stringify(stored),
      state,
      runMs === undefined ? '' : Math.max(0, Math.round(runMs)),
      now,
      eventsKey,
    );
    return reply === 1;
  }

  cancel(id: string, by: { userId: string; privileged: boolean }): Promise<CancelReply> {
    return this.#script('cancel', id, by.userId, by.privileged ? '1' : '0', this.dataTtlMs) as Promise<CancelReply>;
  }

  async drop(id: string): Promise<boolean> {
    return (await this.#script('drop', id)) === 1;
  }

  async lockDelivery(id: string, bot: string, ttlMs: number): Promise<boolean> {
    return (await this.#script('lockDelivery', id, bot, ttlMs)) === 1;
  }

  async delivered(id: string, bot: string): Promise<boolean> {
    return (await this.#script('delivered', id, bot)) === 1;
  }

  async ended<D>(id: string): Promise<EndedEntry<D> | undefined> {
    const raw = await this.redis.hget(this.key('ended'), id);
    return raw === null ? undefined : (JSON.parse(raw) as EndedEntry<D>);
  }

  endedIds(): Promise<string[]> {
    return this.redis.hkeys(this.key('ended'));
  }

  /** Who asked for each id (undefined: no longer a live job). */
  async owners(ids: string[]): Promise<({ userId: string; guildId: string | undefined } | undefined)[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.hmget(this.key('claim'), ...ids);
    return raws.map((raw) => {
      if (raw === null) return undefined;
      const { u, g } = JSON.parse(raw) as { u: string; g: string };
      return { userId: u, guildId: g === '' ? undefined : g };
    });
  }

  /** A user's live jobs, oldest first, with whether each is only reserved. */
  async userJobs(userId: string): Promise<{ id: string; held: boolean; queued: boolean }[]> {
    const ids = await this.redis.zrange(this.key('user', userId), 0, -1);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.zscore(this.key('held'), id).sismember(this.key('queued'), id);
    const replies = (await pipeline.exec()) ?? [];
    return ids.map((id, i) => ({ id, held: replies[2 * i]?.[1] !== null, queued: replies[2 * i + 1]?.[1] === 1 }));
  }

  /** Submitted jobs that have not ended, whatever BullMQ says. */
  async liveJobIds(): Promise<string[]> {
    const [queued, running] = await Promise.all([this.redis.smembers(this.key('queued')), this.redis.smembers(this.key('running'))]);
    return [...queued, ...running];
  }

  cancelsPending(ids: string[]): Promise<boolean[]> {
    if (ids.length === 0) return Promise.resolve([]);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.exists(this.key('cancel', id));
    return pipeline.exec().then((replies) => (replies ?? []).map(([, n]) => n === 1));
  }

  async putImages(id: string, input: Pick<JobInput, 'content' | 'styles'>): Promise<void> {
    const key = this.key('img', id);
    const fields: Record<string, Buffer> = { content: asBuffer(input.content.data) };
    input.styles.forEach((style, i) => (fields[`style:${i}`] = asBuffer(style.image.data)));
    await this.redis.multi().hset(key, fields).pexpire(key, this.dataTtlMs).exec();
  }

  /** The job's images, or undefined when they are gone (expired) or do not match the job's dimensions. */
  async loadImages(id: string, data: Pick<JobData<unknown>, 'content' | 'styles'>): Promise<{ content: RgbImage; styles: RgbImage[] } | undefined> {
    const fields = await this.redis.hgetallBuffer(this.key('img', id));
    const image = (field: string, size: { width: number; height: number }): RgbImage | undefined => {
      const bytes = fields[field];
      if (!bytes || bytes.length !== size.width * size.height * 3) return undefined;
      return { width: size.width, height: size.height, data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
    };
    const content = image('content', data.content);
    const styles = data.styles.map((s, i) => image(`style:${i}`, s));
    if (!content || styles.some((s) => s === undefined)) return undefined;
    return { content, styles: styles as RgbImage[] };
  }

  async putResult(id: string, bytes: Uint8Array): Promise<void> {
    await this.redis.set(this.key('result', id), asBuffer(bytes), 'PX', this.dataTtlMs);
  }

  async result(id: string): Promise<Uint8Array | undefined> {
    const bytes = await this.redis.getBuffer(this.key('result', id));
    return bytes === null ? undefined : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  async putPreview(id: string, bytes: Uint8Array): Promise<void> {
    await this.redis.set(this.key('preview', id), asBuffer(bytes), 'PX', Math.min(this.dataTtlMs, 600_000));
  }

  async preview(id: string): Promise<Uint8Array | undefined> {
    const bytes = await this.redis.getBuffer(this.key('preview', id));
    return bytes === null ? undefined : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  async heartbeat(kind: 'bots' | 'workers', id: string, value: string): Promise<void> {
    await this.redis.hset(this.key(kind), id, value);
  }

  async leave(kind: 'bots' | 'workers', id: string): Promise<void> {
    await this.redis.hdel(this.key(kind), id);
  }

  /** Entries seen within `ttlMs`; older ones than 10× that are removed. */
  async online(kind: 'bots' | 'workers', ttlMs: number, now: number): Promise<Map<string, string>> {
    const all = await this.redis.hgetall(this.key(kind));
    const live = new Map<string, string>();
    const stale: string[] = [];
    for (const [id, value] of Object.entries(all)) {
      const seenAt = kind === 'bots' ? Number(value) : (JSON.parse(value) as WorkerRecord).seenAt;
      if (now - seenAt <= ttlMs) live.set(id, value);
      else if (now - seenAt > 10 * ttlMs) stale.push(id);
    }
    if (stale.length > 0) await this.redis.hdel(this.key(kind), ...stale);
    return live;
  }

  async totals(): Promise<Record<FinalState, OutcomeTotals>> {
    const stats = await this.redis.hgetall(this.key('stats'));
    const out = {} as Record<FinalState, OutcomeTotals>;
    for (const state of ['completed', 'failed', 'cancelled'] as const) {
      const timed = Number(stats[`${state}:timed`] ?? 0);
      out[state] = {
        count: Number(stats[`${state}:count`] ?? 0),
        avgDurationMs: timed === 0 ? undefined : Math.round(Number(stats[`${state}:ms`] ?? 0) / timed),
      };
    }
    return out;
  }

  async hasFinished(id: string): Promise<boolean> {
    return (await this.redis.zscore(this.key('finished'), id)) !== null;
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

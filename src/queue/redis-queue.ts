import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { UserFacingError } from '../errors/user-facing-error.ts';
import type { Logger } from '../log/logger.ts';
import type {
  CancelResult,
  JobEvent,
  JobEventSink,
  JobInput,
  JobOwner,
  JobRef,
  QueueSnapshot,
  Refusal,
  Reservation,
  RunningJobInfo,
  StylizeQueue,
  WorkerInfo,
} from './contract.ts';
import { normalizeJobId, randomJobId } from './job-id.ts';
import { clampRequest, refuse, type FinalEvent } from './job-rules.ts';
import {
  engineRestartingMessage,
  genericFailureMessage,
  guildLimitMessage,
  QUEUE_UNAVAILABLE_MESSAGE,
  queueFullMessage,
  SHUTTING_DOWN_MESSAGE,
  userLimitMessage,
  WORKER_DIED_TWICE_MESSAGE,
} from './messages.ts';
import {
  createRedis,
  ENDED_EVENT,
  jobData,
  parseJobData,
  QUEUE_NAME,
  redisOptions,
  RedisStore,
  STALLED_REASON,
  waitUntilReady,
  type EndedEntry,
  type JobData,
  type ProgressPayload,
  type WorkerRecord,
} from './redis-store.ts';

export interface RedisQueueOptions {
  /** REDIS_URL as configured (it may hold a password; it is never logged). */
  url: string;
  /** The URL with its password masked, for logs and messages. */
  displayUrl?: string;
  /** REDIS_PREFIX. */
  prefix: string;
  /** REDIS_DATA_TTL_HOURS: how long images wait for a worker and results for a bot. */
  dataTtlMs: number;
  maxQueue: number;
  maxJobsPerUser: number;
  maxJobsPerGuild?: (guildId: string) => number | undefined;
  timeoutMs: number;
  maxSize: number;
  maxIterations: number;
  previewEveryMs: number;
  logger?: Logger;
  /** A reservation not submitted within this long lapses (a crashed bot must not hold places for ever). */
  reservationTtlMs?: number;
  /** How often this bot says it is alive, reads who else is, and looks for work left undone. */
  heartbeatMs?: number;
  /** A bot silent this long is gone: another one forwards its jobs' events and delivers their results. */
  botTtlMs?: number;
  /** A worker silent this long no longer counts as online. */
  workerTtlMs?: number;
  /** How long a delivery lock lasts without renewal (a bot that dies mid-delivery lets go after this). */
  deliveryLockMs?: number;
  /** start() gives up reaching Redis after this long. */
  connectTimeoutMs?: number;
  /** A Redis command that has not answered after this long fails (and the request is refused). */
  commandTimeoutMs?: number;
  /** This process's id among the bots; host:pid:random by default. */
  botId?: string;
}

/** Redis cannot be reached: the one line users see, for callers that must throw (cancel, /queue). */
export class QueueUnavailableError extends UserFacingError {
  constructor(cause?: unknown) {
    super(QUEUE_UNAVAILABLE_MESSAGE, { cause });
  }
}

/** A job whose events this process forwards to the sink: one it submitted, or one whose bot has gone. */
interface Forwarded<D> {
  ref: JobRef<D>;
  state: 'queued' | 'running';
  /** False while this process is still submitting it: no position goes out before `queued`. */
  announced: boolean;
  /** The last position the sink was told. */
  position: number | undefined;
  /** Events go to the sink one after another, in order. */
  chain: Promise<void>;
}

const FAILED_KEEP = 1000;

/**
 * The queue in Redis (BullMQ), for several bot processes and worker processes on any machine. The bot side:
 * admission (one Lua script per reservation, atomic across bot processes), submit (images under their own keys,
 * the request and delivery info as BullMQ job data), events from BullMQ's event stream to the sink, and the
 * delivery of each final event exactly once, under a lock, by the bot that submitted the job, or by another bot
 * when that one has gone. Workers (RedisWorker, `npm run worker`) run the jobs. Nothing here cancels a job at
 * shutdown: waiting and running jobs stay in Redis for the next bot process.
 */
export class RedisQueue<D = unknown> implements StylizeQueue<D> {
  readonly #options: Required<Omit<RedisQueueOptions, 'maxJobsPerGuild' | 'logger' | 'displayUrl'>> &
    Pick<RedisQueueOptions, 'maxJobsPerGuild'> & { displayUrl: string };
  readonly #logger: Logger;
  readonly #botId: string;
  readonly #redis: Redis;
  readonly #store: RedisStore;
  readonly #queue: Queue<unknown, unknown, string>;
  #events: QueueEvents | undefined;
  #sink: JobEventSink<D> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lineTimer: NodeJS.Timeout | undefined;
  #ticking = false;
  #ticks = 0;
  #shutdown: Promise<void> | undefined;
  #connected = false;
  /** Bots alive at the last heartbeat (this one always). */
  #bots = new Set<string>();
  #workers: WorkerRecord[] = [];
  /** Jobs whose events this process forwards. */
  readonly #forwarded = new Map<string, Forwarded<D>>();
  /** Jobs being looked up (their first event), so that their later events queue behind. */
  readonly #lookups = new Map<string, Promise<Forwarded<D> | undefined>>();
  /** The bot that submitted each job seen lately. */
  readonly #homes = new Map<string, string>();
  /** Reservations this process made and has not submitted or released. */
  readonly #held = new Set<string>();
  /** Places of submits that failed while Redis was unreachable, to give back once it is reachable again. */
  readonly #giveBack = new Set<string>();
  readonly #delivering = new Set<string>();
  /** Delivered, but Redis has not yet been told (it was down): never delivered again by this process. */
  readonly #deliveredPendingCleanup = new Set<string>();
  readonly #deliveries = new Set<Promise<void>>();
  /** Jobs missing from BullMQ at the last check, given back if still missing at the next. */
  #vanished = new Set<string>();

  constructor(options: RedisQueueOptions) {
    for (const name of ['maxQueue', 'maxJobsPerUser', 'timeoutMs', 'maxSize', 'maxIterations', 'dataTtlMs'] as const) {
      const value = options[name];
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`Expected RedisQueue option \`${name}\` to be a whole number from 1 up, got ${value}`);
      }
    }
    this.#options = {
      ...options,
      displayUrl: options.displayUrl ?? 'redis',
      reservationTtlMs: options.reservationTtlMs ?? 10 * 60_000,
      heartbeatMs: options.heartbeatMs ?? 2_000,
      botTtlMs: options.botTtlMs ?? 10_000,
      workerTtlMs: options.workerTtlMs ?? 15_000,
      deliveryLockMs: options.deliveryLockMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 20_000,
      commandTimeoutMs: options.commandTimeoutMs ?? 3_000,
      botId: options.botId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    };
    this.#logger = options.logger ?? pino({ enabled: false });
    this.#botId = this.#options.botId;
    this.#bots.add(this.#botId);
    this.#redis = createRedis(redisOptions(options.url, 'bot', { commandTimeoutMs: this.#options.commandTimeoutMs }));
    this.#store = new RedisStore(this.#redis, options.prefix, options.dataTtlMs);
    this.#watchConnection();
    this.#queue = new Queue<unknown, unknown, string>(QUEUE_NAME, { connection: this.#redis, prefix: options.prefix });
    this.#queue.on('error', (err) => this.#logger.debug({ err }, 'BullMQ queue error'));
  }

  get botId(): string {
    return this.#botId;
  }

  async start(sink: JobEventSink<D>): Promise<void> {
    this.#sink = sink;
    try {
      await waitUntilReady(this.#redis, this.#options.connectTimeoutMs, this.#options.displayUrl);
    } catch (error) {
      throw new RedisUnreachableError((error as Error).message, { cause: error });
    }
    const events = new QueueEvents(QUEUE_NAME, {
      connection: redisOptions(this.#options.url, 'worker'),
      prefix: this.#options.prefix,
      autorun: false,
    });
    this.#events = events;
    this.#listen(events);
    events.run().catch((err: unknown) => this.#logger.error({ err }, 'the BullMQ event reader stopped'));
    await events.waitUntilReady();
    await this.#tick();
    this.#timer = setInterval(() => void this.#tick(), this.#options.heartbeatMs);
    this.#timer.unref();
    this.#logger.info(
      { redis: this.#options.displayUrl, prefix: this.#options.prefix, bot: this.#botId, workers: this.#workers.length },
      'job queue ready (Redis)',
    );
  }

  async reserve(owner: JobOwner): Promise<Reservation | Refusal> {
    const early = this.#refusalBeforeRedis();
    if (early) return early;
    try {
      for (let attempt = 0; attempt < 10; attempt++) {
        const jobId = redisJobId();
        const now = Date.now();
        const reply = await this.#store.reserve(jobId, owner, this.#caps(owner), now, now + this.#options.reservationTtlMs);
        if (reply[0] === 'taken') continue;
        if (reply[0] === 'ok') {
          if (reply[1] !== '0') this.#logger.warn({ lapsed: Number(reply[1]) }, 'reservations lapsed without being submitted');
          this.#held.add(jobId);
          return { jobId, ...owner };
        }
        return this.#refusal(reply, owner);
      }
      throw new Error('no free job id after 10 draws');
    } catch (error) {
      this.#logger.warn({ err: error, userId: owner.userId }, 'could not reserve a place in Redis');
      return refuse('unavailable', QUEUE_UNAVAILABLE_MESSAGE);
    }
  }

  async release(reservation: Reservation): Promise<void> {
    this.#held.delete(reservation.jobId);
    try {
      await this.#store.release(reservation.jobId);
    } catch (error) {
      // It lapses by itself.
      this.#logger.debug({ err: error, jobId: reservation.jobId }, 'could not release a reservation');
    }
  }

  async submit(reservation: Reservation, input: JobInput, delivery: D): Promise<{ accepted: true; position: number } | Refusal> {
    if (this.#shutdown) return refuse('shutting-down', SHUTTING_DOWN_MESSAGE);
    const { jobId } = reservation;
    this.#held.delete(jobId);
    if (this.#redis.status !== 'ready') {
      // Its place must not stay held (until it lapses) while the user is told to try again.
      this.#giveBack.add(jobId);
      return refuse('unavailable', QUEUE_UNAVAILABLE_MESSAGE);
    }
    const { size, iterations } = clampRequest(input, this.#options);
    const owner = { userId: reservation.userId, guildId: reservation.guildId };
    const ref: JobRef<D> = { jobId, ...owner, delivery };
    let forwarded: Forwarded<D> | undefined;
    let announce: (position: number) => void = () => undefined;
    try {
      // The images first, so that no worker ever finds the job without them.
      await this.#store.putImages(jobId, input);
      const reply = await this.#store.submit(jobId, owner, this.#caps(owner), Date.now());
      if (reply[0] !== 'ok') {
        await this.#redis.del(this.#store.key('img', jobId));
        return this.#refusal(reply, owner);
      }
      // Events that arrive before `queued` has gone out (the job may start at once) wait behind it.
      const f: Forwarded<D> = { ref, state: 'queued', announced: false, position: undefined, chain: Promise.resolve() };
      f.chain = new Promise<number>((resolve) => (announce = resolve)).then((position) => this.#toSink(f, { type: 'queued', position }));
      forwarded = f;
      this.#forwarded.set(jobId, forwarded);
      this.#homes.set(jobId, this.#botId);
      const data: JobData<D> = jobData(owner, this.#botId, delivery, input, {
        size,
        iterations,
        timeLimitMs: this.#options.timeoutMs,
        previewEveryMs: this.#options.previewEveryMs,
        createdAt: Date.now(),
      });
      await this.#queue.add(QUEUE_NAME, data, {
        jobId,
        attempts: 1,
        removeOnComplete: true,
        removeOnFail: { age: Math.round(this.#options.dataTtlMs / 1000), count: FAILED_KEEP },
      });
    } catch (error) {
      this.#logger.warn({ err: error, jobId }, 'could not submit the job to Redis');
      this.#forwarded.delete(jobId);
      // Give its place back (now, or once Redis is back); a worker skips a job that has no place.
      this.#giveBack.add(jobId);
      await this.#giveBackPlaces();
      return refuse('unavailable', QUEUE_UNAVAILABLE_MESSAGE);
    }
    const position = await this.#positionOf(jobId).catch(() => 1);
    forwarded.position = position;
    forwarded.announced = true;
    announce(position);
    this.#logger.debug({ jobId, userId: owner.userId, position, size, iterations }, 'job queued');
    return { accepted: true, position };
  }

  async cancel(jobId: string, by: { userId: string; privileged: boolean }): Promise<CancelResult> {
    const id = normalizeJobId(jobId);
    if (id === undefined) return 'not-found';
    try {
      const reply = await this.#store.cancel(id, by);
      if (reply[0] !== 'cancelled') return reply[0];
      const [, who, state] = reply;
      // A waiting job ends here and now; a running one ends when its worker has stopped (it is told on a channel).
      const job = await this.#queue.getJob(id);
      if (job && (state === 'queued' || (await job.isWaiting()))) {
        const data = parseJobData(job.data);
        if (data) {
          const ended = await this.#store.finish(
            { ref: { jobId: id, userId: data.userId, guildId: data.guildId, delivery: data.delivery }, home: data.bot },
            { type: 'cancelled', by: who },
            undefined,
            Date.now(),
            this.#queue.keys.events!,
          );
          if (ended) await this.#queue.remove(id).catch(() => 0);
        }
      }
      return 'cancelled';
    } catch (error) {
      this.#logger.warn({ err: error, jobId: id }, 'could not cancel in Redis');
      throw new QueueUnavailableError(error);
    }
  }

  async snapshot(view: { userId?: string; guildId?: string } = {}): Promise<QueueSnapshot> {
    try {
      return await this.#snapshot(view);
    } catch (error) {
      this.#logger.warn({ err: error }, 'could not read the queue from Redis');
      throw new QueueUnavailableError(error);
    }
  }

  health(): Promise<{ ok: true } | { ok: false; message: string }> {
    const refusal = this.#refusalBeforeRedis();
    return Promise.resolve(refusal ? { ok: false, message: refusal.message } : { ok: true });
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#shutDown();
    return this.#shutdown;
  }

  // --- admission --------------------------------------------------------------------------------------------

  #refusalBeforeRedis(): Refusal | undefined {
    if (this.#shutdown) return refuse('shutting-down', SHUTTING_DOWN_MESSAGE);
    if (this.#redis.status !== 'ready') return refuse('unavailable', QUEUE_UNAVAILABLE_MESSAGE);
    if (this.#workers.length === 0) return refuse('engine-restarting', engineRestartingMessage());
    return undefined;
  }

  #caps(owner: JobOwner) {
    const guildCap = owner.guildId === undefined ? undefined : this.#options.maxJobsPerGuild?.(owner.guildId);
    return {
      maxJobsPerUser: this.#options.maxJobsPerUser,
      guildCap: guildCap ?? 0,
      maxQueue: this.#options.maxQueue,
      slots: this.#workers.reduce((sum, w) => sum + w.slots, 0),
    };
  }

  #refusal(reply: readonly string[], owner: JobOwner): Refusal {
    switch (reply[0]) {
      case 'user-limit':
        return refuse('user-limit', userLimitMessage(reply.slice(1)));
      case 'guild-limit':
        return refuse('guild-limit', guildLimitMessage(this.#caps(owner).guildCap));
      case 'queue-full':
        return refuse('queue-full', queueFullMessage(Number(reply[1])));
      default:
        // 'taken' on submit: the same reservation submitted twice.
        this.#logger.error({ reply }, 'unexpected admission reply');
        return refuse('unavailable', QUEUE_UNAVAILABLE_MESSAGE);
    }
  }

  // --- events -----------------------------------------------------------------------------------------------

  #listen(events: QueueEvents): void {
    events.on('error', (err) => this.#logger.debug({ err }, 'BullMQ event reader error'));
    events.on('progress', ({ jobId, data }) => this.#onProgress(jobId, data as ProgressPayload));
    events.on('active', ({ jobId }) => {
      const forwarded = this.#forwarded.get(jobId);
      if (forwarded) forwarded.state = 'running';
      this.#lineMoved();
    });
    events.on('waiting', ({ jobId, prev }) => {
      // Back in line after its worker died: it waits for its restart like any other job.
      const forwarded = this.#forwarded.get(jobId);
      if (forwarded && prev === 'active') forwarded.state = 'queued';
      this.#lineMoved();
    });
    events.on('removed', () => this.#lineMoved());
    events.on('failed', ({ jobId }) => void this.#convertFailure(jobId));
    (events as unknown as NodeJS.EventEmitter).on(ENDED_EVENT, ({ jobId }: { jobId: string }) => {
      this.#lineMoved();
      void this.#deliver(jobId);
    });
  }

  #onProgress(jobId: string, payload: ProgressPayload): void {
    if (typeof payload !== 'object' || payload === null || typeof payload.bot !== 'string') return;
    this.#homes.set(jobId, payload.bot);
    if (!this.#forwards(payload.bot) || this.#shutdown) return;
    this.#withForwarded(jobId, async (f) => {
      switch (payload.type) {
        case 'started':
          f.state = 'running';
          return this.#toSink(f, { type: 'started', size: payload.size, iterations: payload.iterations, restarted: payload.restarted });
        case 'retrying':
          return this.#toSink(f, { type: 'retrying', size: payload.size, reason: payload.reason });
        case 'progress': {
          const { type: _type, bot: _bot, preview: meta, ...info } = payload;
          const bytes = meta ? await this.#store.preview(jobId).catch(() => undefined) : undefined;
          return this.#toSink(f, {
            type: 'progress',
            ...info,
            etaMs: info.etaMs ?? undefined,
            scale: info.scale ?? undefined,
            ...(meta && bytes && { preview: { ...meta, bytes } }),
          });
        }
      }
    });
  }

  /** Whether this process forwards the events of a job submitted by `home`: its own, or a gone bot's. */
  #forwards(home: string): boolean {
    if (home === this.#botId) return true;
    if (this.#bots.has(home)) return false;
    // The alive bot with the smallest id adopts a gone bot's jobs, so that exactly one does.
    return [...this.#bots].sort()[0] === this.#botId;
  }

  /** Runs `fn` in the job's event order, once the job is known to be forwarded here. */
  #withForwarded(jobId: string, fn: (f: Forwarded<D>) => Promise<void> | void): void {
    const known = this.#forwarded.get(jobId);
    if (known) {
      void this.#chain(known, () => fn(known));
      return;
    }
    let lookup = this.#lookups.get(jobId);
    if (!lookup) {
      lookup = this.#adopt(jobId).finally(() => this.#lookups.delete(jobId));
      this.#lookups.set(jobId, lookup);
    }
    void lookup.then((f) => f && this.#chain(f, () => fn(f)));
  }

  /** Starts forwarding a job this process did not submit, from its job data; undefined if not ours to forward. */
  async #adopt(jobId: string): Promise<Forwarded<D> | undefined> {
    const job = await this.#queue.getJob(jobId).catch(() => undefined);
    const data = job && parseJobData(job.data);
    if (!job || !data) return undefined;
    this.#homes.set(jobId, data.bot);
    if (!this.#forwards(data.bot)) return undefined;
    const existing = this.#forwarded.get(jobId);
    if (existing) return existing;
    const ref: JobRef<D> = { jobId, userId: data.userId, guildId: data.guildId ?? undefined, delivery: data.delivery as D };
    const state = (await job.isActive().catch(() => false)) ? 'running' : 'queued';
    const forwarded: Forwarded<D> = { ref, state, announced: true, position: undefined, chain: Promise.resolve() };
    this.#forwarded.set(jobId, forwarded);
    if (data.bot !== this.#botId) this.#logger.info({ jobId, from: data.bot }, 'forwarding the events of a job whose bot has gone');
    return forwarded;
  }

  #chain(f: Forwarded<D>, fn: () => Promise<void> | void): Promise<void> {
    const link = f.chain.then(fn).catch((err: unknown) => this.#logger.warn({ jobId: f.ref.jobId, err }, 'forwarding a job event failed'));
    f.chain = link;
    return link;
  }

  /** Hands one event to the sink; a final one's promise is awaited (the result is kept until it resolves). */
  async #toSink(f: Forwarded<D>, event: JobEvent): Promise<void> {
    if (!this.#sink) return;
    let delivered: void | Promise<void>;
    try {
      delivered = this.#sink(f.ref, event);
    } catch (err) {
      this.#logger.warn({ jobId: f.ref.jobId, event: event.type, err }, 'the job event sink threw; the job carries on');
      return;
    }
    if (!(delivered instanceof Promise)) return;
    const isFinal = event.type === 'completed' || event.type === 'failed' || event.type === 'cancelled';
    const settled = delivered.catch((err: unknown) =>
      this.#logger.warn({ jobId: f.ref.jobId, event: event.type, err }, 'delivering a job event failed'),
    );
    if (isFinal) await settled;
  }

  /** The line changed: positions are recomputed soon, once for a burst of changes. */
  #lineMoved(): void {
    if (this.#lineTimer || this.#shutdown) return;
    this.#lineTimer = setTimeout(() => {
      this.#lineTimer = undefined;
      void this.#refreshLine().catch((err: unknown) => this.#logger.debug({ err }, 'could not read the line'));
    }, 5);
  }

  /** BullMQ's line, first to run first (workers take from the tail of the wait list). */
  async #line(): Promise<string[]> {
    return (await this.#redis.lrange(this.#queue.keys.wait!, 0, -1)).reverse();
  }

  async #positionOf(jobId: string): Promise<number> {
    const line = await this.#line();
    const index = line.indexOf(jobId);
    return index === -1 ? 1 : index + 1;
  }

  async #refreshLine(): Promise<void> {
    const line = await this.#line();
    for (let i = 0; i < line.length; i++) {
      const id = line[i]!;
      const home = this.#homes.get(id);
      if (home !== undefined && !this.#forwards(home)) continue;
      const position = i + 1;
      this.#withForwarded(id, (f) => {
        if (!f.announced || f.state !== 'queued' || f.position === position) return;
        f.position = position;
        return this.#toSink(f, { type: 'position', position });
      });
    }
  }

  // --- final events -----------------------------------------------------------------------------------------

  /** Delivers a job's final event if it is this process's to deliver, under the job's delivery lock. */
  #deliver(jobId: string): Promise<void> {
    if (this.#delivering.has(jobId) || this.#shutdown || this.#deliveredPendingCleanup.has(jobId)) return Promise.resolve();
    const home = this.#homes.get(jobId);
    if (home !== undefined && !this.#forwards(home)) return Promise.resolve();
    this.#delivering.add(jobId);
    const run = this.#deliverNow(jobId)
      .catch((err: unknown) => this.#logger.warn({ jobId, err }, 'could not deliver a job’s end yet; will try again'))
      .finally(() => this.#delivering.delete(jobId));
    this.#deliveries.add(run);
    void run.finally(() => this.#deliveries.delete(run));
    return run;
  }

  async #deliverNow(jobId: string): Promise<void> {
    const entry = await this.#store.ended<D>(jobId);
    if (!entry) return;
    this.#homes.set(jobId, entry.job.home);
    if (!this.#forwards(entry.job.home)) return;
    const lockMs = this.#options.deliveryLockMs;
    if (!(await this.#store.lockDelivery(jobId, this.#botId, lockMs))) return;
    const event = await this.#finalEvent(jobId, entry);
    const ref = entry.job.ref;
    const f =
      this.#forwarded.get(jobId) ??
      ({
        ref: { jobId, userId: ref.userId, guildId: ref.guildId ?? undefined, delivery: ref.delivery },
        state: 'running',
        announced: true,
        position: undefined,
        chain: Promise.resolve(),
      } satisfies Forwarded<D>);
    this.#forwarded.set(jobId, f);
    const renew = setInterval(() => void this.#store.lockDelivery(jobId, this.#botId, lockMs).catch(() => undefined), lockMs / 3);
    try {
      await this.#chain(f, () => this.#toSink(f, event));
    } finally {
      clearInterval(renew);
    }
    this.#forwarded.delete(jobId);
    this.#homes.delete(jobId);
    this.#deliveredPendingCleanup.add(jobId);
    await this.#cleanUp(jobId);
    const detail = event.type === 'failed' ? { code: event.failure.code } : event.type === 'cancelled' ? { by: event.by } : {};
    this.#logger.info({ jobId, userId: ref.userId, state: event.type, ...detail }, 'job end delivered');
  }

  async #cleanUp(jobId: string): Promise<void> {
    await this.#store.delivered(jobId, this.#botId);
    this.#deliveredPendingCleanup.delete(jobId);
  }

  async #finalEvent(jobId: string, entry: EndedEntry<D>): Promise<FinalEvent> {
    const stored = entry.event;
    if (stored.type !== 'completed') return stored;
    const bytes = await this.#store.result(jobId);
    if (!bytes) {
      this.#logger.error({ jobId }, 'the result expired in Redis before it was delivered');
      return { type: 'failed', failure: { code: 'internal', message: genericFailureMessage(jobId) } };
    }
    return { type: 'completed', result: { ...stored.result, image: { ...stored.result.image, bytes } } };
  }

  /** A job BullMQ failed itself (its worker died too often, or the consumer threw) becomes a failed end. */
  async #convertFailure(jobId: string): Promise<void> {
    try {
      const job = await this.#queue.getJob(jobId);
      if (!job) return;
      const data = parseJobData(job.data);
      const stalled = job.failedReason === STALLED_REASON;
      this.#logger.error({ jobId, reason: job.failedReason }, stalled ? 'a job took down every worker that ran it' : 'a job failed in its worker');
      if (data) {
        await this.#store.finish(
          { ref: { jobId, userId: data.userId, guildId: data.guildId, delivery: data.delivery }, home: data.bot },
          {
            type: 'failed',
            failure: stalled ? { code: 'worker-crashed', message: WORKER_DIED_TWICE_MESSAGE } : { code: 'internal', message: genericFailureMessage(jobId) },
          },
          job.processedOn === undefined ? undefined : (job.finishedOn ?? Date.now()) - job.processedOn,
          Date.now(),
          this.#queue.keys.events!,
        );
      } else {
        await this.#store.drop(jobId);
      }
      await job.remove();
    } catch (err) {
      this.#logger.debug({ jobId, err }, 'could not turn a failed job into its end yet');
    }
  }

  // --- housekeeping ---------------------------------------------------------------------------------------

  /** Heartbeat, who is online, and anything left undone: ends to deliver, failures to report, the line. */
  async #tick(): Promise<void> {
    if (this.#ticking || this.#redis.status !== 'ready') return;
    this.#ticking = true;
    try {
      const now = Date.now();
      await this.#store.heartbeat('bots', this.#botId, String(now));
      this.#bots = new Set([...(await this.#store.online('bots', this.#options.botTtlMs, now)).keys(), this.#botId]);
      const workers = await this.#store.online('workers', this.#options.workerTtlMs, now);
      this.#workers = [...workers.values()].map((raw) => JSON.parse(raw) as WorkerRecord);
      await this.#giveBackPlaces();
      for (const id of this.#deliveredPendingCleanup) await this.#cleanUp(id).catch(() => undefined);
      for (const id of await this.#store.endedIds()) void this.#deliver(id);
      const failed = await this.#queue.getRanges(['failed'], 0, 99);
      for (const id of failed) void this.#convertFailure(id);
      await this.#refreshLine();
      if (++this.#ticks % 10 === 0) await this.#giveBackVanished();
      this.#forgetStale();
    } catch (err) {
      this.#logger.debug({ err }, 'queue housekeeping failed; will try again');
    } finally {
      this.#ticking = false;
    }
  }

  async #giveBackPlaces(): Promise<void> {
    for (const jobId of this.#giveBack) {
      try {
        await this.#store.drop(jobId);
        await this.#redis.del(this.#store.key('img', jobId));
        this.#giveBack.delete(jobId);
      } catch {
        return; // Redis is still out of reach; the next heartbeat tries again.
      }
    }
  }

  /** Places of jobs that left BullMQ without an end (Redis lost them) are given back after two checks. */
  async #giveBackVanished(): Promise<void> {
    const ids = await this.#store.liveJobIds();
    if (ids.length === 0) {
      this.#vanished = new Set();
      return;
    }
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.exists(this.#queue.toKey(id));
    const exists = ((await pipeline.exec()) ?? []).map(([, n]) => n === 1);
    const missing = new Set(ids.filter((_, i) => !exists[i]));
    for (const id of missing) {
      if (!this.#vanished.has(id)) continue;
      if (await this.#store.drop(id)) this.#logger.warn({ jobId: id }, 'a job vanished from Redis without an end; its place is given back');
    }
    this.#vanished = missing;
  }

  /** Forgets lookups of jobs no longer in the line nor running (their ends arrive through the ended hash). */
  #forgetStale(): void {
    if (this.#homes.size < 10_000) return;
    for (const id of this.#homes.keys()) if (!this.#forwarded.has(id)) this.#homes.delete(id);
  }

  #watchConnection(): void {
    this.#redis.on('error', (err: Error) => {
      if (this.#connected) this.#logger.debug({ err: err.message }, 'Redis connection error');
    });
    this.#redis.on('ready', () => {
      if (this.#connected) return;
      this.#connected = true;
      if (this.#timer) this.#logger.info({ redis: this.#options.displayUrl }, 'reconnected to Redis');
    });
    this.#redis.on('close', () => {
      if (!this.#connected || this.#shutdown) return;
      this.#connected = false;
      this.#logger.warn({ redis: this.#options.displayUrl }, 'lost the connection to Redis; new jobs are refused until it is back');
    });
  }

  // --- /queue -----------------------------------------------------------------------------------------------

  async #snapshot(view: { userId?: string; guildId?: string }): Promise<QueueSnapshot> {
    const [line, active, totals] = await Promise.all([
      this.#line(),
      this.#redis.lrange(this.#queue.keys.active!, 0, -1),
      this.#store.totals(),
    ]);
    const owners = await this.#store.owners(line);
    const waiting: QueueSnapshot['waiting'] = [];
    line.forEach((id, i) => {
      const owner = owners[i];
      if (owner) waiting.push({ id, userId: owner.userId, position: i + 1 });
    });
    const now = Date.now();
    const jobs = await Promise.all(active.map((id) => this.#queue.getJob(id)));
    const [stillOwned, cancels] = await Promise.all([this.#store.owners(active), this.#store.cancelsPending(active)]);
    const running: RunningJobInfo[] = [];
    jobs.forEach((job, i) => {
      const data = job && parseJobData(job.data);
      if (!job || !data) return;
      const progress = job.progress as ProgressPayload | number;
      running.push({
        id: active[i]!,
        userId: data.userId,
        guildId: data.guildId ?? undefined,
        size: data.size,
        iterations: data.iterations,
        elapsedMs: now - (job.processedOn ?? now),
        progress:
          typeof progress === 'object' && progress.type === 'progress'
            ? { iteration: progress.iteration, total: progress.total, etaMs: progress.etaMs ?? undefined }
            : undefined,
        stopping: cancels[i] === true || stillOwned[i] === undefined,
      });
    });
    const workers: WorkerInfo[] = this.#workers.flatMap((w) =>
      w.engines.map((e) => ({ id: `${w.id}/${e.id}`, backend: e.backend, busy: e.busy })),
    );
    const snapshot: QueueSnapshot = {
      accepting: !this.#shutdown && this.#redis.status === 'ready',
      maxQueue: this.#options.maxQueue,
      running,
      waiting,
      workers,
      totals,
    };
    if (view.userId !== undefined) {
      const mine = (await this.#store.userJobs(view.userId)).filter((j) => !j.held);
      snapshot.user = {
        userId: view.userId,
        jobs: mine.map((j) => {
          const index = line.indexOf(j.id);
          return index === -1
            ? { id: j.id, state: 'running' as const, position: undefined }
            : { id: j.id, state: 'queued' as const, position: index + 1 };
        }),
      };
    }
    return snapshot;
  }

  // --- shutdown ---------------------------------------------------------------------------------------------

  async #shutDown(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#lineTimer);
    this.#logger.info(
      { delivering: this.#deliveries.size, forwarded: this.#forwarded.size },
      'job queue shutting down: waiting and running jobs stay in Redis for the next bot process',
    );
    await Promise.allSettled([...this.#deliveries]);
    await Promise.allSettled([...this.#held].map((jobId) => this.#store.release(jobId)));
    this.#held.clear();
    if (this.#redis.status === 'ready') {
      // Another bot takes over this one's jobs at once rather than after botTtlMs.
      await this.#store.leave('bots', this.#botId).catch(() => undefined);
    }
    await this.#events?.close().catch(() => undefined);
    await this.#queue.close().catch(() => undefined);
    this.#redis.disconnect();
    this.#logger.info('job queue stopped');
  }
}

/** start() could not reach Redis: one line for the admin, without the password. */
export class RedisUnreachableError extends UserFacingError {}

/** A job id BullMQ accepts: it refuses custom ids that read as integers ("123456"). */
function redisJobId(): string {
  for (;;) {
    const id = randomJobId();
    if (!/^\d+$/.test(id)) return id;
  }
}

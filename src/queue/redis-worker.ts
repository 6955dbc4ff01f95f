import { hostname } from 'node:os';
import { DelayedError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Failure } from '../engine/protocol.ts';
import type { Logger } from '../log/logger.ts';
import { defaultTimeoutSlackMs, engineJob, finalEvent, type FinalEvent, type RunOutcome, type StopReason } from './job-rules.ts';
import type { JobRunner, RunnerEvent } from './local-queue.ts';
import { genericFailureMessage, imagesExpiredMessage } from './messages.ts';
import {
  createRedis,
  parseJobData,
  QUEUE_NAME,
  redisOptions,
  RedisStore,
  waitUntilReady,
  type EndedJob,
  type JobData,
  type ProgressPayload,
  type WorkerRecord,
} from './redis-store.ts';

export interface RedisWorkerOptions {
  /** REDIS_URL (it may hold a password; it is never logged). */
  url: string;
  displayUrl?: string;
  prefix: string;
  dataTtlMs: number;
  /** Runs the engine jobs: the local WorkerPool in production, a stand-in in tests. */
  runner: JobRunner;
  /** On close, running jobs get this long to finish; then they go back to the line for another worker. */
  shutdownGraceMs: number;
  logger?: Logger;
  /** What the weights are, for the registry and the ready line. */
  weights?: string;
  /** This process among the workers; host:pid by default. */
  id?: string;
  /**
   * A job's lock lasts this long without renewal (renewed at half of it while it runs). A worker that dies
   * mid-job lets go of it after this; then BullMQ's stalled check, every `stalledIntervalMs`, gives it to another.
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** How often this worker says it is alive, and looks for cancels it may have missed. */
  heartbeatMs?: number;
  /** Progress without a preview goes to Redis at most this often (every preview goes). */
  progressEveryMs?: number;
  /** start() gives up reaching Redis after this long. */
  connectTimeoutMs?: number;
}

interface Running {
  job: Job<unknown, unknown, string>;
  abort: AbortController;
  /** `superseded`: this worker lost the job's lock (Redis was out of reach too long) and another worker has it. */
  stop: StopReason | { kind: 'shutdown' } | { kind: 'superseded' } | undefined;
}

/**
 * The worker side of the Redis queue (`npm run worker`): a BullMQ Worker that takes as many jobs at once as its
 * runner has engine workers, loads each job's images from Redis, runs it, forwards progress (with previews) as
 * BullMQ progress events, stores the encoded result and ends the job, and stops a job within one iteration when
 * it is cancelled, wherever the cancel came from. A job whose worker process dies is given to another worker by
 * BullMQ's stalled check, once; a second death fails it (maxStalledCount 1), and a bot tells the user.
 */
export class RedisWorker {
  readonly #options: Required<Omit<RedisWorkerOptions, 'logger' | 'displayUrl' | 'weights'>> & {
    displayUrl: string;
    weights: string;
  };
  readonly #logger: Logger;
  readonly #runner: JobRunner;
  readonly #running = new Map<string, Running>();
  #redis: Redis | undefined;
  #subscriber: Redis | undefined;
  #store: RedisStore | undefined;
  #worker: Worker<unknown, unknown, string> | undefined;
  #eventsKey = '';
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #slots = 0;
  #connected = false;

  constructor(options: RedisWorkerOptions) {
    this.#options = {
      ...options,
      displayUrl: options.displayUrl ?? 'redis',
      weights: options.weights ?? 'unknown',
      id: options.id ?? `${hostname()}:${process.pid}`,
      lockDurationMs: options.lockDurationMs ?? 30_000,
      stalledIntervalMs: options.stalledIntervalMs ?? 30_000,
      heartbeatMs: options.heartbeatMs ?? 5_000,
      progressEveryMs: options.progressEveryMs ?? 200,
      connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
    };
    this.#logger = options.logger ?? pino({ enabled: false });
    this.#runner = options.runner;
  }

  get id(): string {
    return this.#options.id;
  }

  /** Starts the engine workers, connects, and takes jobs. Rejects with the runner's or Redis's one line. */
  async start(): Promise<void> {
    await this.#runner.start();
    const redis = createRedis(redisOptions(this.#options.url, 'worker'));
    this.#redis = redis;
    this.#watchConnection(redis);
    await waitUntilReady(redis, this.#options.connectTimeoutMs, this.#options.displayUrl);
    this.#store = new RedisStore(redis, this.#options.prefix, this.#options.dataTtlMs);

    const subscriber = redis.duplicate();
    this.#subscriber = subscriber;
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, jobId: string) => this.#stop(jobId, { kind: 'cancel', by: 'owner' }));
    await subscriber.subscribe(this.#store.key('cancel'));

    this.#slots = Math.max(1, this.#runner.status().workers.length);
    const worker = new Worker<unknown, unknown, string>(QUEUE_NAME, (job, token) => this.#process(job, token), {
      connection: redisOptions(this.#options.url, 'worker'),
      prefix: this.#options.prefix,
      concurrency: this.#slots,
      lockDuration: this.#options.lockDurationMs,
      stalledInterval: this.#options.stalledIntervalMs,
      maxStalledCount: 1,
      autorun: false,
      name: this.#options.id,
      removeOnComplete: { count: 0 },
    });
    this.#worker = worker;
    this.#eventsKey = worker.keys.events!;
    worker.on('error', (err) => this.#logger.debug({ err }, 'BullMQ worker error'));
    worker.run().catch((err: unknown) => this.#logger.error({ err }, 'the BullMQ worker stopped'));
    await worker.waitUntilReady();
    await this.#heartbeat();
    this.#timer = setInterval(() => void this.#heartbeat(), this.#options.heartbeatMs);
    this.#timer.unref();
  }

  /** The ready line's facts: what computes, with which weights, how many at once. */
  describe(): { id: string; slots: number; backends: string; gpu: boolean; weights: string } {
    const engines = this.#runner.status().workers;
    const backends = [...new Set(engines.map((w) => `${w.backend.name} (${w.backend.device})`))].join(', ');
    return { id: this.#options.id, slots: this.#slots, backends, gpu: engines.some((w) => w.backend.gpu), weights: this.#options.weights };
  }

  /** Jobs this process is running now. */
  get running(): string[] {
    return [...this.#running.keys()];
  }

  /**
   * Stops taking jobs; running ones get the grace period, then are stopped and put back in the line, first, for
   * another worker (the user is told it restarted). Then the engine workers stop. Resolves when all is closed.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#timer);
    this.#logger.info({ running: this.#running.size, graceMs: this.#options.shutdownGraceMs }, 'worker stopping: no new jobs');
    const closing = this.#worker?.close() ?? Promise.resolve();
    const grace = setTimeout(() => {
      for (const jobId of this.#running.keys()) this.#stop(jobId, { kind: 'shutdown' });
    }, this.#options.shutdownGraceMs);
    await closing.catch((err: unknown) => this.#logger.warn({ err }, 'closing the BullMQ worker failed'));
    clearTimeout(grace);
    await this.#store?.leave('workers', this.#options.id).catch(() => undefined);
    await this.#runner.close();
    this.#subscriber?.disconnect();
    await this.#redis?.quit().catch(() => undefined);
    this.#redis?.disconnect();
    this.#logger.info('worker stopped');
  }

  #stop(jobId: string, reason: NonNullable<Running['stop']>): void {
    const running = this.#running.get(jobId);
    if (!running) return;
    running.stop ??= reason;
    running.abort.abort();
  }

  /** One BullMQ job, start to end. Never throws except to hand a job back at shutdown. */
  async #process(job: Job<unknown, unknown, string>, token: string | undefined): Promise<{ ended: string }> {
    const store = this.#store!;
    const jobId = job.id!;
    const data = parseJobData(job.data);
    if (!data) {
      // Not ours to read (a bug, or a foreign producer on this queue): it cannot be delivered either.
      this.#logger.error({ jobId }, 'job data in Redis is not a stylize job; dropping it');
      await store.drop(jobId);
      return { ended: 'invalid' };
    }
    const ended: EndedJob<unknown> = {
      ref: { jobId, userId: data.userId, guildId: data.guildId, delivery: data.delivery },
      home: data.bot,
    };
    const log = this.#logger.child({ jobId });
    const verdict = await store.start(jobId);
    if (verdict === 'ended') {
      log.info('job already ended (cancelled while waiting); skipping it');
      return { ended: 'skipped' };
    }
    if (verdict === 'cancel') {
      await this.#finish(ended, { type: 'cancelled', by: 'owner' }, undefined);
      return { ended: 'cancelled' };
    }
    const images = await store.loadImages(jobId, data);
    if (!images) {
      log.warn('the job’s images are gone from Redis (expired)');
      const failure: Failure = { code: 'engine-unavailable', message: imagesExpiredMessage(this.#options.dataTtlMs) };
      await this.#finish(ended, { type: 'failed', failure }, undefined);
      return { ended: 'failed' };
    }

    const running: Running = { job, abort: new AbortController(), stop: undefined };
    this.#running.set(jobId, running);
    const restartedHere = job.attemptsStarted > 1;
    log.info({ userId: data.userId, size: data.size, restarted: restartedHere, waitedMs: Date.now() - data.createdAt }, 'job started');
    const guard = setTimeout(() => this.#stop(jobId, { kind: 'timeout' }), data.timeLimitMs + defaultTimeoutSlackMs(data.timeLimitMs));
    const progress = this.#progressWriter(job, data, restartedHere);
    const startedAt = Date.now();
    let outcome: RunOutcome;
    try {
      const input = {
        content: images.content,
        styles: images.styles.map((image, i) => ({ image, weight: data.styles[i]!.weight })),
        settings: data.settings,
        resultMaxBytes: data.resultMaxBytes,
        ...(data.preset !== undefined && { preset: data.preset }),
      };
      const engine = engineJob(jobId, input, { iterations: data.iterations, timeLimitMs: data.timeLimitMs, previewEveryMs: data.previewEveryMs });
      outcome = await this.#runner.run(engine, progress.onEvent, running.abort.signal);
    } catch (err) {
      // The runner never rejects; this only keeps a bug from losing the job.
      log.error({ err }, 'job run broke');
      outcome = { state: 'failed', failure: { code: 'internal', message: genericFailureMessage(jobId) } };
    } finally {
      clearTimeout(guard);
      this.#running.delete(jobId);
    }
    await progress.drain();
    const runMs = Date.now() - startedAt;
    if (running.stop?.kind === 'superseded') {
      // The other worker's run is the job's run now; this one leaves no trace.
      log.warn('another worker took this job over (its lock lapsed here); stopped this run of it');
      throw new DelayedError();
    }
    if (running.stop?.kind === 'shutdown' && outcome.state !== 'completed') {
      // Back to the head of the line: the next free worker restarts it.
      log.info('worker shutting down: the job goes back to the line for another worker');
      if (token) await job.moveToWait(token);
      throw new DelayedError();
    }
    const stop = running.stop?.kind === 'cancel' || running.stop?.kind === 'timeout' ? running.stop : undefined;
    const event = finalEvent(stop, outcome, data.timeLimitMs);
    if (event.type === 'completed') await store.putResult(jobId, event.result.image.bytes);
    const mine = await this.#finish(ended, event, runMs);
    const detail = event.type === 'failed' ? { code: event.failure.code } : event.type === 'cancelled' ? { by: event.by } : {};
    log.info({ state: event.type, durationMs: runMs, ...detail, endedHere: mine }, `job ${event.type}`);
    return { ended: event.type };
  }

  async #finish(job: EndedJob<unknown>, event: FinalEvent, runMs: number | undefined): Promise<boolean> {
    return this.#store!.finish(job, event, runMs, Date.now(), this.#eventsKey);
  }

  /**
   * Turns runner events into BullMQ progress events, in order: `started` and `retrying` always, progress at most
   * every progressEveryMs unless it carries a preview (whose bytes go under their own key first). While Redis is
   * unreachable they are dropped rather than queued: the job carries on, and its end is what must not be lost.
   */
  #progressWriter(job: Job<unknown, unknown, string>, data: JobData<unknown>, restartedHere: boolean) {
    const store = this.#store!;
    const jobId = job.id!;
    let restarted = restartedHere;
    let chain = Promise.resolve();
    let lastProgressAt = 0;
    const send = (payload: ProgressPayload, preview?: Uint8Array) => {
      if (this.#redis?.status !== 'ready') return;
      chain = chain
        .then(async () => {
          if (preview) await store.putPreview(jobId, preview);
          await job.updateProgress(payload);
        })
        .catch((err: unknown) => this.#logger.debug({ jobId, err }, 'could not send progress'));
    };
    const onEvent = (event: RunnerEvent) => {
      const running = this.#running.get(jobId);
      if (!running || running.stop) return;
      switch (event.type) {
        case 'restarted':
          restarted = true;
          this.#logger.warn({ jobId }, 'the engine worker died mid-job; retrying it once on a fresh worker');
          return;
        case 'started':
          return send({ type: 'started', bot: data.bot, size: event.size, iterations: event.iterations, restarted });
        case 'retrying':
          return send({ type: 'retrying', bot: data.bot, size: event.size, reason: event.reason });
        case 'progress': {
          const now = Date.now();
          const { type: _type, preview, ...info } = event;
          if (!preview && now - lastProgressAt < this.#options.progressEveryMs && event.iteration < event.total) return;
          lastProgressAt = now;
          const meta = preview && { mime: preview.mime, extension: preview.extension, width: preview.width, height: preview.height };
          return send({ type: 'progress', bot: data.bot, ...info, ...(meta && { preview: meta }) }, preview?.bytes);
        }
      }
    };
    return { onEvent, drain: () => chain };
  }

  async #heartbeat(): Promise<void> {
    const store = this.#store;
    if (!store || this.#redis?.status !== 'ready') return;
    const status = this.#runner.status();
    const record: WorkerRecord = {
      id: this.#options.id,
      slots: this.#slots,
      busy: this.#running.size,
      engines: status.workers.map((w) => ({ id: w.id, backend: w.backend, busy: w.busy })),
      weights: this.#options.weights,
      seenAt: Date.now(),
    };
    try {
      if (!this.#closing) await store.heartbeat('workers', this.#options.id, JSON.stringify(record));
      // A cancel published while this worker was reconnecting is still in its key.
      const ids = [...this.#running.keys()];
      const cancelled = await store.cancelsPending(ids);
      ids.forEach((id, i) => cancelled[i] && this.#stop(id, { kind: 'cancel', by: 'owner' }));
      await this.#dropSupersededRuns(ids);
    } catch (err) {
      this.#logger.debug({ err }, 'worker heartbeat failed');
    }
  }

  /**
   * A job whose lock now holds another worker's token was given to that worker by the stalled check (this one
   * could not renew the lock, e.g. while Redis was down): this run stops, so that one GPU is not wasted on it.
   */
  async #dropSupersededRuns(ids: string[]): Promise<void> {
    const worker = this.#worker;
    if (!worker || ids.length === 0) return;
    const tokens = await this.#redis!.mget(...ids.map((id) => worker.toKey(`${id}:lock`)));
    ids.forEach((id, i) => {
      const token = tokens[i];
      const running = this.#running.get(id);
      if (running && token && running.job.token !== undefined && token !== running.job.token) this.#stop(id, { kind: 'superseded' });
    });
  }

  #watchConnection(redis: Redis): void {
    redis.on('error', () => undefined);
    redis.on('ready', () => {
      if (this.#connected) return;
      if (this.#worker) this.#logger.info({ redis: this.#options.displayUrl }, 'reconnected to Redis');
      this.#connected = true;
    });
    redis.on('close', () => {
      if (!this.#connected || this.#closing) return;
      this.#connected = false;
      this.#logger.warn({ redis: this.#options.displayUrl }, 'lost the connection to Redis; reconnecting (running jobs carry on)');
    });
  }
}

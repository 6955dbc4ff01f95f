import PQueue from 'p-queue';
import { pino } from 'pino';
import type { EngineJob } from '../engine/protocol.ts';
import type { BackendInfo } from '../engine/types.ts';
import type { Logger } from '../log/logger.ts';
import type {
  CancelledBy,
  CancelResult,
  FinalState,
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
} from './contract.ts';
import { normalizeJobId, uniqueJobId } from './job-id.ts';
import {
  clampRequest,
  defaultTimeoutSlackMs,
  engineJob,
  finalEvent,
  refuse,
  type FinalEvent,
  type RunOutcome,
  type StopReason,
} from './job-rules.ts';
import {
  engineRestartingMessage,
  genericFailureMessage,
  guildLimitMessage,
  queueFullMessage,
  SHUTTING_DOWN_MESSAGE,
  userLimitMessage,
} from './messages.ts';
import { OutcomeStats } from './stats.ts';

/** What runs engine jobs: the WorkerPool, or an in-process stand-in in tests. */
export interface JobRunner {
  /** Resolves when a job can run; rejects with the first worker's start-up line. */
  start(): Promise<void>;
  /** Resolves exactly once, never rejects; aborting `signal` cancels (a worker that ignores it is killed). */
  run(job: EngineJob, onEvent: (event: RunnerEvent) => void, signal: AbortSignal): Promise<RunOutcome>;
  status(): { alive: number; busy: number; workers: { id: string; backend: BackendInfo; busy: boolean }[] };
  close(): Promise<void>;
}

export type RunnerEvent =
  | { type: 'started'; size: number; iterations: number }
  | { type: 'retrying'; size: number; reason: 'out-of-memory' }
  /** The worker died mid-job; the runner retries it once on a fresh worker. */
  | { type: 'restarted' }
  | Extract<JobEvent, { type: 'progress' }>;

export type { RunOutcome } from './job-rules.ts';

export interface LocalQueueOptions {
  runner: JobRunner;
  /** Jobs that may wait in line (MAX_QUEUE), not counting running ones. */
  maxQueue: number;
  /** Reserved, queued plus running jobs per user (MAX_JOBS_PER_USER). */
  maxJobsPerUser: number;
  /** Reserved, queued plus running jobs per server, by guild id (GUILD_LIMITS maxJobs). */
  maxJobsPerGuild?: (guildId: string) => number | undefined;
  /** Longest run of one job (JOB_TIMEOUT_SECONDS): the engine stops there with its best image. */
  timeoutMs: number;
  /** On shutdown, how long running jobs may finish before they are cancelled (SHUTDOWN_GRACE_SECONDS). */
  shutdownGraceMs: number;
  maxSize: number;
  maxIterations: number;
  /** Previews ride on progress events at most this often (PROGRESS_INTERVAL_MS). */
  previewEveryMs: number;
  logger?: Logger;
  /** Clock for durations and timestamps. Timers always use real time. */
  now?: () => number;
  /** If the engine has not answered this long past the time limit, the job is cancelled as timed out. */
  timeoutSlackMs?: number;
  /** A reservation not submitted within this long is released (a bug or a hung download must not hold a place). */
  reservationTtlMs?: number;
  /** Finished jobs remembered for cancel() answers. */
  historySize?: number;
}

interface Held {
  owner: JobOwner;
  jobId: string;
  timer: NodeJS.Timeout;
}

interface Entry<D> {
  ref: JobRef<D>;
  input: JobInput;
  state: 'queued' | 'running';
  createdAt: number;
  startedAt?: number;
  size: number;
  iterations: number;
  progress?: RunningJobInfo['progress'];
  /** Takes the job out of p-queue's line while it waits. */
  lineAbort: AbortController;
  /** Stops the worker once it runs (separate: p-queue frees a slot as soon as its own signal aborts). */
  runAbort: AbortController;
  stopReason?: StopReason;
  /** Set once the final event has been sent; nothing follows it. */
  ended: boolean;
  /** Resolves when `ended` is set. */
  done: Promise<void>;
  markDone: () => void;
  restarted: boolean;
}

/**
 * The in-process queue: a waiting line in arrival order (p-queue, one slot per live engine worker), positions,
 * the per-user, per-server and queue limits as atomic reservations, and exactly one final event per job. The
 * engine work itself runs in worker processes behind a JobRunner. Knows nothing of Discord: what the bot needs to
 * reach a user travels opaquely as `delivery`.
 */
export class LocalQueue<D = unknown> implements StylizeQueue<D> {
  readonly #options: Required<Omit<LocalQueueOptions, 'maxJobsPerGuild' | 'logger'>> &
    Pick<LocalQueueOptions, 'maxJobsPerGuild'>;
  readonly #logger: Logger;
  readonly #runner: JobRunner;
  readonly #line = new PQueue({ concurrency: 1 });
  readonly #held = new Map<string, Held>();
  /** Queued and running jobs by id; the waiting ones also in #waiting, first in line first. */
  readonly #active = new Map<string, Entry<D>>();
  readonly #waiting: Entry<D>[] = [];
  readonly #history = new Map<string, FinalState>();
  readonly #stats = new OutcomeStats();
  /** Final events still being delivered by the sink. */
  readonly #deliveries = new Set<Promise<void>>();
  #sink: JobEventSink<D> | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(options: LocalQueueOptions) {
    for (const name of ['maxQueue', 'maxJobsPerUser', 'timeoutMs', 'maxSize', 'maxIterations'] as const) {
      const value = options[name];
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`Expected LocalQueue option \`${name}\` to be a whole number from 1 up, got ${value}`);
      }
    }
    this.#options = {
      ...options,
      now: options.now ?? Date.now,
      timeoutSlackMs: options.timeoutSlackMs ?? defaultTimeoutSlackMs(options.timeoutMs),
      reservationTtlMs: options.reservationTtlMs ?? 10 * 60_000,
      historySize: options.historySize ?? 1000,
    };
    this.#logger = options.logger ?? pino({ enabled: false });
    this.#runner = options.runner;
  }

  async start(sink: JobEventSink<D>): Promise<void> {
    this.#sink = sink;
    await this.#runner.start();
    this.#resize();
  }

  reserve(owner: JobOwner): Promise<Reservation | Refusal> {
    const refusal = this.#refusal(owner);
    if (refusal) return Promise.resolve(refusal);
    const jobId = uniqueJobId((id) => this.#active.has(id) || this.#held.has(id) || this.#history.has(id));
    const timer = setTimeout(() => {
      if (!this.#held.delete(jobId)) return;
      this.#logger.warn({ jobId, userId: owner.userId }, 'a reservation lapsed without being submitted');
    }, this.#options.reservationTtlMs);
    timer.unref();
    this.#held.set(jobId, { owner, jobId, timer });
    return Promise.resolve({ jobId, ...owner });
  }

  release(reservation: Reservation): Promise<void> {
    const held = this.#held.get(reservation.jobId);
    if (held) {
      clearTimeout(held.timer);
      this.#held.delete(reservation.jobId);
    }
    return Promise.resolve();
  }

  submit(reservation: Reservation, input: JobInput, delivery: D): Promise<{ accepted: true; position: number } | Refusal> {
    return Promise.resolve(this.#submit(reservation, input, delivery));
  }

  #submit(reservation: Reservation, input: JobInput, delivery: D): { accepted: true; position: number } | Refusal {
    if (this.#shutdown) return refuse('shutting-down', SHUTTING_DOWN_MESSAGE);
    const held = this.#held.get(reservation.jobId);
    if (!held) {
      // Lapsed (or never made): admit it only if the limits hold now.
      const refusal = this.#refusal(reservation);
      if (refusal) return refusal;
    } else {
      clearTimeout(held.timer);
      this.#held.delete(reservation.jobId);
    }
    const { size, iterations } = clampRequest(input, this.#options);
    let markDone!: () => void;
    const entry: Entry<D> = {
      ref: { jobId: reservation.jobId, userId: reservation.userId, guildId: reservation.guildId, delivery },
      input,
      state: 'queued',
      createdAt: this.#options.now(),
      size,
      iterations,
      lineAbort: new AbortController(),
      runAbort: new AbortController(),
      ended: false,
      done: new Promise((resolve) => (markDone = resolve)),
      markDone: () => markDone(),
      restarted: false,
    };
    this.#active.set(entry.ref.jobId, entry);
    this.#waiting.push(entry);
    this.#resize();
    const position = this.#waiting.length;
    this.#logger.debug({ jobId: entry.ref.jobId, userId: entry.ref.userId, position, size, iterations }, 'job queued');
    // p-queue starts the job synchronously when a worker is free; only a job that really waits is announced.
    this.#line.add(() => this.#run(entry), { signal: entry.lineAbort.signal }).catch(() => {
      // Rejects only when the job is cancelled while waiting; #cancel has already ended it.
    });
    const waitingAt = this.#waiting.indexOf(entry) + 1;
    if (waitingAt > 0) this.#emit(entry, { type: 'queued', position: waitingAt });
    return { accepted: true, position: Math.max(1, waitingAt) };
  }

  cancel(jobId: string, by: { userId: string; privileged: boolean }): Promise<CancelResult> {
    return Promise.resolve(this.#cancelById(jobId, by));
  }

  #cancelById(jobId: string, by: { userId: string; privileged: boolean }): CancelResult {
    const id = normalizeJobId(jobId);
    if (id === undefined) return 'not-found';
    const entry = this.#active.get(id);
    if (!entry) return this.#history.has(id) ? 'already-finished' : 'not-found';
    const isOwner = by.userId === entry.ref.userId;
    if (!isOwner && !by.privileged) return 'not-allowed';
    this.#cancel(entry, isOwner ? 'owner' : 'admin');
    return 'cancelled';
  }

  snapshot(view: { userId?: string; guildId?: string } = {}): Promise<QueueSnapshot> {
    return Promise.resolve(this.#snapshot(view));
  }

  #snapshot(view: { userId?: string; guildId?: string }): QueueSnapshot {
    const now = this.#options.now();
    const entries = [...this.#active.values()];
    const status = this.#runner.status();
    const snapshot: QueueSnapshot = {
      accepting: !this.#shutdown,
      maxQueue: this.#options.maxQueue,
      running: entries
        .filter((e) => e.state === 'running')
        .map((e) => ({
          id: e.ref.jobId,
          userId: e.ref.userId,
          guildId: e.ref.guildId,
          size: e.size,
          iterations: e.iterations,
          elapsedMs: now - (e.startedAt ?? now),
          progress: e.progress,
          stopping: e.stopReason !== undefined,
        })),
      waiting: this.#waiting.map((e, index) => ({ id: e.ref.jobId, userId: e.ref.userId, position: index + 1 })),
      workers: status.workers.map((w) => ({ id: w.id, backend: w.backend, busy: w.busy })),
      totals: this.#stats.totals(),
    };
    if (view.userId !== undefined) {
      const mine = entries.filter((e) => e.ref.userId === view.userId);
      snapshot.user = {
        userId: view.userId,
        jobs: mine.map((e) => ({
          id: e.ref.jobId,
          state: e.state,
          position: e.state === 'queued' ? this.#waiting.indexOf(e) + 1 : undefined,
        })),
      };
    }
    return snapshot;
  }

  health(): Promise<{ ok: true } | { ok: false; message: string }> {
    if (this.#shutdown) return Promise.resolve({ ok: false, message: SHUTTING_DOWN_MESSAGE });
    if (this.#runner.status().alive === 0) return Promise.resolve({ ok: false, message: engineRestartingMessage() });
    return Promise.resolve({ ok: true });
  }

  /** Waiting and running jobs now, and slots (live workers); for diagnostics and tests. */
  get counts(): { waiting: number; running: number; reserved: number; slots: number; lineSize: number } {
    return {
      waiting: this.#waiting.length,
      running: this.#active.size - this.#waiting.length,
      reserved: this.#held.size,
      slots: this.#line.concurrency,
      lineSize: this.#line.size + this.#line.pending,
    };
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#shutDown();
    return this.#shutdown;
  }

  async #shutDown(): Promise<void> {
    this.#line.pause();
    const running = () => [...this.#active.values()].filter((e) => e.state === 'running');
    this.#logger.info(
      { waiting: this.#waiting.length, running: running().length, graceMs: this.#options.shutdownGraceMs },
      'job queue shutting down',
    );
    for (const held of this.#held.values()) clearTimeout(held.timer);
    this.#held.clear();
    // From the back, so that nobody still in line is told about a position change.
    for (const entry of [...this.#waiting].reverse()) this.#cancel(entry, 'shutdown');
    const ended = (entries: Entry<D>[]) => Promise.all(entries.map((e) => e.done));
    if (running().length > 0 && this.#options.shutdownGraceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#options.shutdownGraceMs)));
      await Promise.race([ended(running()), graceOver]);
      clearTimeout(timer);
    }
    const left = running();
    for (const entry of left) this.#cancel(entry, 'shutdown');
    await ended(left);
    await this.#runner.close();
    await Promise.allSettled([...this.#deliveries]);
    this.#logger.info({ totals: this.#stats.totals() }, 'job queue stopped');
  }

  #refusal(owner: JobOwner): Refusal | undefined {
    if (this.#shutdown) return refuse('shutting-down', SHUTTING_DOWN_MESSAGE);
    if (this.#runner.status().alive === 0) return refuse('engine-restarting', engineRestartingMessage());
    const claims = [
      ...[...this.#active.values()].map((e) => ({ id: e.ref.jobId, owner: e.ref, queued: true })),
      ...[...this.#held.values()].map((h) => ({ id: h.jobId, owner: h.owner, queued: false })),
    ];
    const mine = claims.filter((c) => c.owner.userId === owner.userId);
    if (mine.length >= this.#options.maxJobsPerUser) {
      return refuse('user-limit', userLimitMessage(mine.filter((c) => c.queued).map((c) => c.id)));
    }
    const guildCap = owner.guildId === undefined ? undefined : this.#options.maxJobsPerGuild?.(owner.guildId);
    if (guildCap !== undefined && claims.filter((c) => c.owner.guildId === owner.guildId).length >= guildCap) {
      return refuse('guild-limit', guildLimitMessage(guildCap));
    }
    // Reserved jobs take the free slots first; only the rest will wait in line.
    const running = this.#active.size - this.#waiting.length;
    const freeSlots = Math.max(0, this.#line.concurrency - running);
    const waitingSoon = this.#waiting.length + Math.max(0, this.#held.size - freeSlots);
    if (waitingSoon >= this.#options.maxQueue) return refuse('queue-full', queueFullMessage(waitingSoon));
    return undefined;
  }

  /** One slot per worker, live or restarting; a job in a slot waits for its worker inside the runner. */
  #resize(): void {
    this.#line.concurrency = Math.max(1, this.#runner.status().workers.length);
  }

  #cancel(entry: Entry<D>, by: CancelledBy): void {
    if (entry.ended) return;
    if (entry.state === 'queued') {
      this.#leaveLine(entry);
      entry.lineAbort.abort();
      this.#end(entry, { type: 'cancelled', by });
    } else {
      entry.stopReason ??= { kind: 'cancel', by };
      entry.runAbort.abort();
    }
  }

  /** Called by p-queue when a slot is free. Never rejects. */
  async #run(entry: Entry<D>): Promise<void> {
    if (entry.ended) return;
    this.#resize();
    this.#leaveLine(entry);
    entry.state = 'running';
    entry.startedAt = this.#options.now();
    const { jobId } = entry.ref;
    this.#logger.info(
      { jobId, userId: entry.ref.userId, guildId: entry.ref.guildId, size: entry.size, waitedMs: entry.startedAt - entry.createdAt },
      'job started',
    );
    const guard = setTimeout(() => {
      entry.stopReason ??= { kind: 'timeout' };
      entry.runAbort.abort();
    }, this.#options.timeoutMs + this.#options.timeoutSlackMs);
    let outcome: RunOutcome;
    try {
      outcome = await this.#runner.run(this.#engineJob(entry), (event) => this.#onRunnerEvent(entry, event), entry.runAbort.signal);
    } catch (err) {
      // The runner never rejects; this only keeps a bug from losing the job.
      this.#logger.error({ jobId, err }, 'job run broke');
      outcome = { state: 'failed', failure: { code: 'internal', message: genericFailureMessage(jobId) } };
    } finally {
      clearTimeout(guard);
    }
    this.#end(entry, this.#finalEvent(entry, outcome));
  }

  #engineJob(entry: Entry<D>): EngineJob {
    return engineJob(entry.ref.jobId, entry.input, {
      iterations: entry.iterations,
      timeLimitMs: this.#options.timeoutMs,
      previewEveryMs: this.#options.previewEveryMs,
    });
  }

  #onRunnerEvent(entry: Entry<D>, event: RunnerEvent): void {
    if (entry.ended || entry.stopReason) return;
    switch (event.type) {
      case 'restarted':
        entry.restarted = true;
        this.#logger.warn({ jobId: entry.ref.jobId }, 'the engine worker died mid-job; retrying it once on a fresh worker');
        return;
      case 'started':
        this.#emit(entry, { type: 'started', size: event.size, iterations: event.iterations, restarted: entry.restarted });
        return;
      case 'retrying':
        entry.size = event.size;
        this.#emit(entry, event);
        return;
      case 'progress':
        entry.progress = { iteration: event.iteration, total: event.total, etaMs: event.etaMs };
        this.#emit(entry, event);
        return;
    }
  }

  #finalEvent(entry: Entry<D>, outcome: RunOutcome): FinalEvent {
    return finalEvent(entry.stopReason, outcome, this.#options.timeoutMs);
  }

  /** Takes a waiting job out of the line; everyone behind it moves up and is told. */
  #leaveLine(entry: Entry<D>): void {
    const index = this.#waiting.indexOf(entry);
    if (index === -1) return;
    this.#waiting.splice(index, 1);
    for (let i = index; i < this.#waiting.length; i++) this.#emit(this.#waiting[i]!, { type: 'position', position: i + 1 });
  }

  #end(entry: Entry<D>, event: FinalEvent): void {
    if (entry.ended) return;
    this.#emit(entry, event);
    entry.ended = true;
    entry.markDone();
    const { jobId } = entry.ref;
    this.#active.delete(jobId);
    const state: FinalState = event.type;
    this.#history.set(jobId, state);
    if (this.#history.size > this.#options.historySize) this.#history.delete(this.#history.keys().next().value!);
    const durationMs = entry.startedAt === undefined ? undefined : this.#options.now() - entry.startedAt;
    this.#stats.record(state, durationMs);
    const detail =
      event.type === 'failed' ? { code: event.failure.code } : event.type === 'cancelled' ? { by: event.by } : {};
    this.#logger.info({ jobId, userId: entry.ref.userId, state, durationMs, ...detail }, `job ${state}`);
  }

  #emit(entry: Entry<D>, event: JobEvent): void {
    if (entry.ended || !this.#sink) return;
    let delivered: void | Promise<void>;
    try {
      delivered = this.#sink(entry.ref, event);
    } catch (err) {
      this.#logger.warn({ jobId: entry.ref.jobId, event: event.type, err }, 'the job event sink threw; the job carries on');
      return;
    }
    if (!(delivered instanceof Promise)) return;
    const settled = delivered.catch((err: unknown) =>
      this.#logger.warn({ jobId: entry.ref.jobId, event: event.type, err }, 'delivering a job event failed'),
    );
    if (event.type === 'completed' || event.type === 'failed' || event.type === 'cancelled') {
      this.#deliveries.add(settled);
      void settled.finally(() => this.#deliveries.delete(settled));
    }
  }
}

import PQueue from 'p-queue';
import { pino } from 'pino';
import type { Logger } from '../log/logger.ts';
import { normalizeJobId, uniqueJobId } from './job-id.ts';
import { JobRun, type JobRunSettings } from './job-run.ts';
import { Job, type JobControl } from './job.ts';
import { clampIterations, clampSize } from './limits.ts';
import { genericFailureMessage, queueFullMessage, SHUTTING_DOWN_MESSAGE, userLimitMessage } from './messages.ts';
import { OutcomeStats } from './stats.ts';
import type {
  CancelledBy,
  CancelResult,
  FinishedJob,
  JobListener,
  JobOutcome,
  JobRequest,
  QueueOptions,
  QueueSnapshot,
  SubmitResult,
} from './types.ts';

interface Entry {
  job: Job;
  control: JobControl;
  request: JobRequest;
  /** Aborting it takes the job out of p-queue's line; used only while the job waits. */
  lineAbort: AbortController;
  run?: JobRun;
}

/**
 * After an abort (cancel, timeout, or shutdown past its grace), how long a job waits for the engine to return
 * before it is ended anyway (QueueOptions.abortWaitMs). shutdown() therefore resolves within
 * shutdownGraceMs + DEFAULT_ABORT_WAIT_MS when abortWaitMs is not set.
 */
export const DEFAULT_ABORT_WAIT_MS = 30_000;

type ResolvedOptions = Required<Omit<QueueOptions, 'backendName' | 'logger'>> & { backendName: string | undefined };

/**
 * The GPU-bound job queue. p-queue runs at most `concurrency` engines at once in arrival order (an engine that
 * outlives its job after an abort keeps its slot until it returns); this class keeps the waiting line in the
 * same order to report positions, enforces the queue and per-user limits, and turns every accepted job into
 * exactly one final event. It knows nothing of Discord or of image files.
 */
export class JobQueue {
  readonly #options: ResolvedOptions;
  readonly #logger: Logger;
  readonly #runSettings: JobRunSettings;
  readonly #slots: PQueue;
  /** The waiting line, first in line first. */
  readonly #waiting: Entry[] = [];
  readonly #running = new Map<string, Entry>();
  /** Ids of ended jobs whose engine has not returned yet; each still holds its p-queue slot. */
  readonly #lingering = new Set<string>();
  /** Queued and running jobs by id, oldest first. */
  readonly #active = new Map<string, Entry>();
  /** The same by user, oldest first. */
  readonly #activeByUser = new Map<string, Set<Entry>>();
  /**
   * Recently finished jobs, oldest first, bounded by historySize. Summaries only: a finished Job holds its result
   * image, which must not outlive the bot's use of it.
   */
  readonly #history = new Map<string, FinishedJob>();
  readonly #stats = new OutcomeStats();
  readonly #guildStats = new Map<string, OutcomeStats>();
  #shutdown: Promise<void> | undefined;

  constructor(options: QueueOptions) {
    this.#options = resolveOptions(options);
    this.#logger = options.logger ?? pino({ enabled: false });
    this.#slots = new PQueue({ concurrency: this.#options.concurrency });
    this.#runSettings = { ...this.#options, logger: this.#logger };
  }

  /** Accepts the job into the line, or refuses it with a message safe to show the user. Never throws on limits. */
  submit(request: JobRequest, listener?: JobListener): SubmitResult {
    validateRequest(request);
    if (this.#shutdown) return { accepted: false, reason: 'shutting-down', message: SHUTTING_DOWN_MESSAGE };

    const mine = this.#activeOf(request.userId);
    if (mine.length >= this.#options.maxJobsPerUser) {
      const ids = mine.map((e) => e.job.id);
      return { accepted: false, reason: 'user-limit', message: userLimitMessage(ids), activeJobId: ids[0] };
    }
    const waiting = this.#waiting.length;
    if (waiting >= this.#options.maxQueue) {
      return { accepted: false, reason: 'queue-full', message: queueFullMessage(waiting), queueLength: waiting };
    }

    const { job, control } = Job.create(
      {
        id: uniqueJobId((id) => this.#active.has(id) || this.#history.has(id)),
        userId: request.userId,
        guildId: request.guildId,
        size: clampSize(request.size, this.#options.maxSize),
        iterations: clampIterations(request.iterations, this.#options.maxIterations),
        createdAt: this.#options.now(),
      },
      this.#logger,
    );
    if (listener) job.listen(listener);
    const entry: Entry = { job, control, request, lineAbort: new AbortController() };
    this.#active.set(job.id, entry);
    const usersJobs = this.#activeByUser.get(job.userId);
    if (usersJobs) usersJobs.add(entry);
    else this.#activeByUser.set(job.userId, new Set([entry]));
    this.#waiting.push(entry);
    const position = this.#waiting.length;
    control.setPosition(position);
    this.#logger.debug(
      { jobId: job.id, userId: job.userId, guildId: job.guildId, position, size: job.size, iterations: job.iterations },
      'job queued',
    );
    control.emit('queued', position);

    // A `queued` listener may already have cancelled it.
    if (job.state === 'queued') {
      this.#slots.add(() => this.#run(entry), { signal: entry.lineAbort.signal }).catch(() => {
        // Rejects only when the job is cancelled while waiting; cancel() has already ended it.
      });
    }
    return { accepted: true, job };
  }

  /** Owners cancel their own jobs; `privileged` (admins) cancel anyone's. Accepts ids as users type them. */
  cancel(jobId: string, by: { userId: string; privileged: boolean }): CancelResult {
    const id = normalizeJobId(jobId);
    if (id === undefined) return 'not-found';
    const entry = this.#active.get(id);
    if (!entry) return this.#history.has(id) ? 'already-finished' : 'not-found';
    const isOwner = by.userId === entry.job.userId;
    if (!isOwner && !by.privileged) return 'not-allowed';
    this.#cancel(entry, isOwner ? 'owner' : 'admin');
    return 'cancelled';
  }

  /** A queued or running job. Accepts ids as users type them. */
  get(jobId: string): Job | undefined {
    const id = normalizeJobId(jobId);
    return id === undefined ? undefined : this.#active.get(id)?.job;
  }

  /** How a recently finished job ended (the last historySize jobs are remembered). */
  finished(jobId: string): FinishedJob | undefined {
    const id = normalizeJobId(jobId);
    return id === undefined ? undefined : this.#history.get(id);
  }

  /** For `/queue` and logs. `forUserId` adds that user's jobs; `forGuildId` adds that server's totals. */
  snapshot(forUserId?: string, forGuildId?: string): QueueSnapshot {
    const now = this.#options.now();
    const snapshot: QueueSnapshot = {
      accepting: !this.#shutdown,
      concurrency: this.#options.concurrency,
      maxQueue: this.#options.maxQueue,
      running: [...this.#running.values()].map(({ job, run }) => ({
        id: job.id,
        userId: job.userId,
        guildId: job.guildId,
        size: job.attemptSize,
        iterations: job.iterations,
        startedAt: job.startedAt ?? now,
        elapsedMs: now - (job.startedAt ?? now),
        progress: job.lastProgress,
        stopping: run?.stopping ?? false,
      })),
      queuedCount: this.#waiting.length,
      waiting: this.#waiting.map(({ job }, index) => ({
        id: job.id,
        userId: job.userId,
        guildId: job.guildId,
        position: index + 1,
        waitingMs: now - job.createdAt,
      })),
      totals: this.#stats.totals(),
    };
    if (forUserId !== undefined) {
      snapshot.user = {
        userId: forUserId,
        jobs: this.#activeOf(forUserId).map(({ job }) => ({
          id: job.id,
          state: job.state === 'queued' ? 'queued' : 'running',
          position: job.position,
        })),
      };
    }
    if (forGuildId !== undefined) {
      snapshot.guild = {
        guildId: forGuildId,
        totals: (this.#guildStats.get(forGuildId) ?? new OutcomeStats()).totals(),
      };
    }
    return snapshot;
  }

  /**
   * p-queue's own counts: jobs it holds in line (`size`) and slots in use (`pending`, which includes engines
   * still returning after their job ended). For diagnostics and tests; both are 0 when the queue is idle.
   */
  get slots(): { size: number; pending: number } {
    return { size: this.#slots.size, pending: this.#slots.pending };
  }

  /**
   * Stops taking jobs, cancels the waiting ones at once (`cancelled('shutdown')`), lets running jobs finish for
   * up to shutdownGraceMs, then cancels them too. Resolves when every job has ended: at the latest
   * shutdownGraceMs + abortWaitMs after the call, even if an engine ignores its abort. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#shutDown();
    return this.#shutdown;
  }

  async #shutDown(): Promise<void> {
    this.#slots.pause();
    this.#logger.info(
      { waiting: this.#waiting.length, running: this.#running.size, graceMs: this.#options.shutdownGraceMs },
      'job queue shutting down',
    );
    // From the back, so that nobody still in line is told about a position change.
    for (const entry of [...this.#waiting].reverse()) this.#cancel(entry, 'shutdown');

    const running = () => [...this.#running.values()];
    if (running().length > 0 && this.#options.shutdownGraceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#options.shutdownGraceMs)));
      await Promise.race([Promise.all(running().map((e) => e.job.done)), graceOver]);
      clearTimeout(timer);
    }
    const left = running();
    for (const entry of left) this.#cancel(entry, 'shutdown');
    await Promise.all(left.map((e) => e.job.done));
    // Engines that ignored their abort are not waited for: the process may exit under them.
    this.#logger.info({ totals: this.#stats.totals(), enginesStillRunning: this.#lingering.size }, 'job queue stopped');
  }

  #cancel(entry: Entry, by: CancelledBy): void {
    if (entry.job.state === 'queued') {
      this.#leaveLine(entry);
      entry.lineAbort.abort();
      this.#finish(entry, { state: 'cancelled', by });
    } else {
      entry.run?.stop({ kind: 'cancel', by });
    }
  }

  /** Called by p-queue when a slot is free; the job leaves the line and runs. Never rejects. */
  async #run(entry: Entry): Promise<void> {
    const { job, control } = entry;
    if (job.state !== 'queued') return;
    this.#leaveLine(entry);
    const startedAt = this.#options.now();
    control.markRunning(startedAt);
    this.#running.set(job.id, entry);
    this.#logger.info(
      {
        jobId: job.id,
        userId: job.userId,
        guildId: job.guildId,
        size: job.size,
        iterations: job.iterations,
        backend: this.#options.backendName,
        waitedMs: startedAt - job.createdAt,
        waiting: this.#waiting.length,
      },
      'job started',
    );
    let outcome: JobOutcome;
    try {
      entry.run = new JobRun(job, control, entry.request, this.#runSettings);
      outcome = await entry.run.outcome;
    } catch (err) {
      // JobRun turns every failure into an outcome; this only guards against a bug losing the job.
      this.#logger.error({ jobId: job.id, err }, 'job run broke');
      outcome = { state: 'failed', error: { kind: 'internal', message: genericFailureMessage(job.id), cause: err } };
    }
    this.#finish(entry, outcome);
    // An engine given up on after an abort may still hold the GPU: the next job waits until it returns.
    if (entry.run?.abandoned) {
      this.#lingering.add(job.id);
      await entry.run.settled;
      this.#lingering.delete(job.id);
    }
  }

  /** Takes a waiting job out of the line; everyone behind it moves up and is told. */
  #leaveLine(entry: Entry): void {
    const index = this.#waiting.indexOf(entry);
    if (index === -1) return;
    this.#waiting.splice(index, 1);
    entry.control.setPosition(undefined);
    for (let i = index; i < this.#waiting.length; i++) {
      const behind = this.#waiting[i]!;
      behind.control.setPosition(i + 1);
      behind.control.emit('position', i + 1);
    }
  }

  #finish(entry: Entry, outcome: JobOutcome): void {
    const { job, control } = entry;
    if (job.isFinished) return;
    const finishedAt = this.#options.now();
    const durationMs = job.startedAt === undefined ? undefined : finishedAt - job.startedAt;
    this.#active.delete(job.id);
    const usersJobs = this.#activeByUser.get(job.userId);
    usersJobs?.delete(entry);
    if (usersJobs?.size === 0) this.#activeByUser.delete(job.userId);
    this.#running.delete(job.id);
    this.#history.set(job.id, {
      id: job.id,
      userId: job.userId,
      guildId: job.guildId,
      state: outcome.state,
      createdAt: job.createdAt,
      startedAt: job.startedAt,
      finishedAt,
      message: outcome.state === 'failed' ? outcome.error.message : undefined,
    });
    if (this.#history.size > this.#options.historySize) {
      this.#history.delete(this.#history.keys().next().value!);
    }
    this.#stats.record(outcome.state, durationMs);
    if (job.guildId !== undefined) {
      let stats = this.#guildStats.get(job.guildId);
      if (!stats) this.#guildStats.set(job.guildId, (stats = new OutcomeStats()));
      stats.record(outcome.state, durationMs);
    }
    this.#logEnd(job, outcome, durationMs);
    control.settle(outcome, finishedAt);
  }

  #logEnd(job: Job, outcome: JobOutcome, durationMs: number | undefined): void {
    const base = {
      jobId: job.id,
      userId: job.userId,
      guildId: job.guildId,
      outcome: outcome.state,
      durationMs,
      size: job.attemptSize,
      requestedSize: job.size,
    };
    if (outcome.state === 'completed') {
      const { result } = outcome;
      this.#logger.info(
        {
          ...base,
          iterations: result.iterations,
          msPerIter: result.msPerIter,
          backend: result.backend,
          timedOut: result.timedOut,
          retriedAtSize: result.retriedAtSize,
        },
        'job completed',
      );
      return;
    }
    const progressed = { iterations: job.lastProgress?.iteration ?? 0, backend: this.#options.backendName };
    if (outcome.state === 'failed') {
      const level = outcome.error.kind === 'user-error' ? 'info' : 'warn';
      this.#logger[level]({ ...base, ...progressed, failure: outcome.error.kind }, 'job failed');
    } else {
      this.#logger.info({ ...base, ...progressed, by: outcome.by }, 'job cancelled');
    }
  }

  #activeOf(userId: string): Entry[] {
    return [...(this.#activeByUser.get(userId) ?? [])];
  }
}

function resolveOptions(options: QueueOptions): ResolvedOptions {
  type IntOption = 'concurrency' | 'maxQueue' | 'maxJobsPerUser' | 'timeoutMs' | 'shutdownGraceMs';
  const positiveInt = (name: IntOption | 'maxIterations' | 'maxSize', min = 1) => {
    const value: unknown = options[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      const got = typeof value === 'number' ? value : typeof value;
      throw new RangeError(`JobQueue option ${name} must be a whole number of at least ${min} (got ${got})`);
    }
  };
  positiveInt('concurrency');
  positiveInt('maxQueue');
  positiveInt('maxJobsPerUser');
  positiveInt('timeoutMs');
  positiveInt('shutdownGraceMs', 0);
  positiveInt('maxIterations');
  positiveInt('maxSize');
  if (typeof options.stylize !== 'function') throw new TypeError('JobQueue option stylize must be a function');
  const retryScale = options.retryScale ?? 0.7;
  if (!(retryScale > 0 && retryScale < 1)) throw new RangeError('JobQueue option retryScale must be between 0 and 1');
  return {
    stylize: options.stylize,
    concurrency: options.concurrency,
    maxQueue: options.maxQueue,
    maxJobsPerUser: options.maxJobsPerUser,
    timeoutMs: options.timeoutMs,
    shutdownGraceMs: options.shutdownGraceMs,
    maxIterations: options.maxIterations,
    maxSize: options.maxSize,
    backendName: options.backendName,
    now: options.now ?? Date.now,
    timeoutSlackMs: options.timeoutSlackMs ?? Math.min(120_000, Math.max(5_000, Math.round(options.timeoutMs * 0.1))),
    abortWaitMs: options.abortWaitMs ?? DEFAULT_ABORT_WAIT_MS,
    minRetrySize: options.minRetrySize ?? 128,
    retryScale,
    historySize: options.historySize ?? 1000,
  };
}

function validateRequest(request: JobRequest): void {
  if (typeof request?.userId !== 'string' || request.userId.length === 0) {
    throw new TypeError('JobRequest.userId must be a non-empty string');
  }
  if (typeof request.prepare !== 'function') throw new TypeError('JobRequest.prepare must be a function');
}

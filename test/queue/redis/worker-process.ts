/**
 * The Redis consumer in its own process, as `npm run worker` runs it, but with the in-process stand-in runner
 * instead of engine workers (test-only):
 *
 *   node --import tsx test/queue/redis/worker-process.ts '{"url":…,"prefix":…,"runner":{…},"timing":{…}}'
 *
 * It prints one JSON line per fact the tests check: ready, each job started, each job's end with the iteration
 * the stand-in had reached when it was told to stop, with wall-clock times for the benchmarks. A job whose seed is `runner.poisonSeed` kills this process
 * (SIGKILL, as a native crash would), every time. SIGTERM closes it as the CLI does.
 */
import { RedisWorker } from '../../../src/queue/redis-worker.ts';
import type { JobRunner } from '../../../src/queue/local-queue.ts';
import { FakeRunner, type FakeRunnerOptions } from '../fake-runner.ts';

interface Config {
  url: string;
  prefix: string;
  dataTtlMs: number;
  runner: FakeRunnerOptions & { poisonSeed?: number };
  timing: Record<string, number>;
}

const config = JSON.parse(process.argv[2]!) as Config;
const fake = new FakeRunner(config.runner);
const report = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
/** Wall-clock ms with sub-ms precision, comparable across processes on one machine (for the benchmarks). */
const now = () => performance.timeOrigin + performance.now();

const runner: JobRunner = {
  start: () => fake.start(),
  status: () => fake.status(),
  close: () => fake.close(),
  async run(job, onEvent, signal) {
    report({ type: 'started', jobId: job.id, at: now() });
    if (config.runner.poisonSeed !== undefined && job.settings.seed === config.runner.poisonSeed) {
      process.kill(process.pid, 'SIGKILL');
    }
    const outcome = await fake.run(job, onEvent, signal);
    const endedAt = now();
    const call = fake.calls.filter((c) => c.job.id === job.id).at(-1)!;
    report({
      type: 'ended',
      jobId: job.id,
      outcome: call.outcome,
      lastIteration: call.lastIteration,
      iterationAtAbort: call.iterationAtAbort ?? null,
      at: endedAt,
    });
    return outcome;
  },
};

const worker = new RedisWorker({
  url: config.url,
  prefix: config.prefix,
  dataTtlMs: config.dataTtlMs,
  runner,
  shutdownGraceMs: 1_000,
  ...config.timing,
});
await worker.start();
report({ type: 'ready', id: worker.id });
process.on('SIGTERM', () => {
  void worker.close().then(() => process.exit(0));
});

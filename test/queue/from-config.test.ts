import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { JobQueue, queueOptionsFromConfig } from '../../src/queue/index.ts';
import { createFakeEngine } from './fake-engine.ts';

describe('queueOptionsFromConfig', () => {
  it('maps the environment settings onto the queue', () => {
    const config = loadConfig({
      ENGINE_WORKERS: '2',
      MAX_QUEUE: '7',
      MAX_JOBS_PER_USER: '3',
      JOB_TIMEOUT_SECONDS: '60',
      SHUTDOWN_GRACE_SECONDS: '0',
      MAX_ITERATIONS: '250',
      MAX_SIZE: '768',
      DEFAULT_SIZE: '512',
    });
    const engine = createFakeEngine();
    const options = queueOptionsFromConfig(config, engine.stylize, { backendName: 'wasm' });
    expect(options).toMatchObject({
      concurrency: 2,
      maxQueue: 7,
      maxJobsPerUser: 3,
      timeoutMs: 60_000,
      shutdownGraceMs: 0,
      maxIterations: 250,
      maxSize: 768,
      backendName: 'wasm',
    });
    expect(options.stylize).toBe(engine.stylize);
    // The defaults make a valid queue too.
    expect(() => new JobQueue(queueOptionsFromConfig(loadConfig({}), engine.stylize))).not.toThrow();
  });
});

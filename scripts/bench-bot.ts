/**
 * `npm run bench:bot -- --size 512 --jobs 2 [--json]`: how responsive the bot stays while engine workers are busy.
 * Starts the real bot (discord.js, the queue, engine worker processes with the real VGG19 weights from
 * ../shared/vgg19-uint8) against the fake Discord of test/fake-discord, submits `--jobs` style transfers at
 * `--size`, and while they run sends 20 `/queue` commands and 5 Cancel presses (by someone else, so the jobs go
 * on). Prints the acknowledgement latency of those interactions (p50, p99, max), the bot process's event-loop
 * delay (p99, max; perf_hooks.monitorEventLoopDelay) and its peak RSS. The fake Discord runs in this process too,
 * so the RSS is an upper bound for the bot alone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import sharp from 'sharp';
import { startBot } from '../src/bot/bot.ts';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/log/logger.ts';
import { startFakeDiscord, type InteractionHandle } from '../test/fake-discord/index.ts';
import { SHARED_IMAGES, SHARED_VGG19 } from '../test/helpers/shared-data.ts';

const options = new Command('npm run bench:bot')
  .option('--size <px>', 'output long side of each job', '512')
  .option('--jobs <n>', 'style transfers to run at once', '2')
  .option('--iterations <n>', 'iterations per job', '20')
  .option('--backend <name>', 'ENGINE_BACKEND for the workers', 'auto')
  .option('--workers <n>', 'ENGINE_WORKERS (default: auto)')
  .option('--json', 'print one JSON line')
  .parse()
  .opts<{ size: string; jobs: string; iterations: string; backend: string; workers?: string; json?: boolean }>();

const fake = await startFakeDiscord();
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'stylebot-bench-'));
const config = loadConfig({
  DATA_DIR: dataDir,
  ...fake.env(),
  REGISTER_COMMANDS_ON_START: 'true',
  VGG19_WEIGHTS: SHARED_VGG19,
  ENGINE_BACKEND: options.backend,
  ...(options.workers && { ENGINE_WORKERS: options.workers }),
  MAX_JOBS_PER_USER: '1',
  MAX_SIZE: '2048',
  LOG_LEVEL: 'warn',
});
const bot = await startBot(config, { logger: createLogger({ level: 'warn', format: 'json' }) });
await fake.waitForReady();

const upload = async (file: string) => fake.cdn.add(await sharp(`${SHARED_IMAGES}/${file}`).toBuffer(), { filename: file });
const content = await upload('tubingen.jpg');
const style = await upload('starry_night.jpg');
const jobs: InteractionHandle[] = [];
for (let i = 0; i < Number(options.jobs); i++) {
  jobs.push(
    fake.interactions.slashCommand({
      name: 'stylize',
      user: fake.addUser(`painter${i}`),
      options: { content, style, size: Number(options.size), iterations: Number(options.iterations) },
    }),
  );
}
const jobIds = await fake.waitUntil(
  () => {
    const ids = jobs.map((j) => /job `([0-9A-Z]{6})`/.exec(j.originalMessage()?.data.content ?? '')?.[1]);
    return ids.every(Boolean) && jobs.every((j) => /iteration \d+/.test(j.originalMessage()?.data.content ?? '')) && ids;
  },
  600_000,
  'every job running with progress',
);

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let peakRss = process.memoryUsage().rss;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
const latencies: number[] = [];
const timed = async (dispatch: () => InteractionHandle) => {
  const started = performance.now();
  await dispatch().waitForResponse(10_000);
  latencies.push(performance.now() - started);
};
const onlooker = fake.addUser('onlooker');
for (let i = 0; i < 25; i++) {
  if (i % 5 === 4) {
    const job = jobs[i % jobs.length]!;
    await timed(() =>
      fake.interactions.button({ customId: `cancel:${jobIds[i % jobs.length]}`, message: job.originalMessage()!, user: onlooker }),
    );
  } else {
    await timed(() => fake.interactions.slashCommand({ name: 'queue', user: fake.addUser(`asker${i}`) }));
  }
  await sleep(300 + Math.random() * 400);
}
delay.disable();
clearInterval(rssTimer);

const sorted = [...latencies].sort((a, b) => a - b);
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const stillRunning = jobs.filter((j) => !(j.originalMessage()?.data.content ?? '').startsWith('✅')).length;
const { workers } = await bot.context.queue.snapshot();
const result = {
  size: Number(options.size),
  jobs: jobs.length,
  workers: workers.length,
  backend: workers[0]?.backend.name,
  interactions: latencies.length,
  jobsStillRunningAtEnd: stillRunning,
  ackMs: { p50: Math.round(pct(50)), p99: Math.round(pct(99)), max: Math.round(sorted.at(-1)!) },
  eventLoopDelayMs: { p99: Math.round(delay.percentile(99) / 1e6), max: Math.round(delay.max / 1e6) },
  botRssMB: Math.round(peakRss / 2 ** 20),
};
await bot.stop();
await fake.close();
await rm(dataDir, { recursive: true, force: true });
if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { startBot, type RunningBot } from '../../../src/bot/bot.ts';
import { loadConfig } from '../../../src/config/index.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { memoryDestination } from '../../helpers/memory-log.ts';
import { writeTfjsModel } from '../../helpers/weights-fixtures.ts';
import {
  startFakeDiscord,
  type FakeDiscord,
  type InteractionHandle,
  type RecordedRequest,
} from '../../fake-discord/index.ts';
import { makeTinyVggWeights } from '../../helpers/tiny-vgg.ts';

export interface Harness {
  fake: FakeDiscord;
  bot: RunningBot;
  /** Every JSON log line the bot wrote. */
  logs: string[];
  /** DATA_DIR: saved styles and kept inputs (removed on close unless the test passed its own). */
  dataDir: string;
  close(): Promise<void>;
}

/** A tiny VGG19-shaped model on disk, as engine worker processes load weights from files. */
export async function writeTinyModel(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stylebot-e2e-'));
  await writeTfjsModel(path.join(dir, 'tiny'), makeTinyVggWeights());
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The real bot (discord.js, the queue, engine worker processes on a tiny VGG19, sharp) against the fake Discord.
 * Only the configuration points it there; `env` overrides settings per test. `options.fake` starts the bot against
 * an existing fake (a restart: the messages stay), which close() then leaves open.
 */
export async function startHarness(env: Record<string, string> = {}, options: { fake?: FakeDiscord } = {}): Promise<Harness> {
  const ownFake = options.fake === undefined;
  const fake = options.fake ?? (await startFakeDiscord());
  const model = await writeTinyModel();
  const config = loadConfig({
    ...fake.env(),
    REGISTER_COMMANDS_ON_START: 'true',
    PROGRESS_INTERVAL_MS: '1000',
    LOG_LEVEL: 'debug',
    VGG19_WEIGHTS: path.join(model.dir, 'tiny'),
    WEIGHTS_DIR: model.dir,
    DATA_DIR: path.join(model.dir, 'data'),
    ENGINE_BACKEND: 'wasm',
    // One worker: the tests that need a line of waiting jobs get one, and each bot start forks only one process.
    ENGINE_WORKERS: '1',
    ...env,
  });
  const { stream, lines } = memoryDestination();
  const logger = createLogger({ level: 'debug', destination: stream, secrets: [fake.token] });
  let bot: RunningBot;
  try {
    bot = await startBot(config, { logger, weightsShapes: 'consistent' });
  } catch (error) {
    if (ownFake) await fake.close();
    await model.remove();
    throw error;
  }
  let closed = false;
  return {
    fake,
    bot,
    logs: lines,
    dataDir: config.data.dir,
    async close() {
      if (closed) return;
      closed = true;
      await bot.stop();
      if (ownFake) await fake.close();
      await model.remove();
    },
  };
}

/** A photo-like image: smooth gradients with a few shapes, so the engine has content to keep. */
export async function photo(width = 160, height = 120, format: 'png' | 'jpeg' = 'jpeg'): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inDisc = (x - width / 3) ** 2 + (y - height / 2) ** 2 < (height / 4) ** 2;
      data[i] = inDisc ? 230 : Math.round((x / width) * 255);
      data[i + 1] = inDisc ? 40 : Math.round((y / height) * 200);
      data[i + 2] = inDisc ? 40 : 120;
    }
  }
  const image = sharp(data, { raw: { width, height, channels: 3 } });
  return format === 'png' ? image.png().toBuffer() : image.jpeg({ quality: 90 }).toBuffer();
}

/** An artwork-like image: strong repeating strokes. */
export async function artwork(width = 128, height = 128): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const stripe = Math.sin((x + y) / 3) > 0;
      data[i] = stripe ? 20 : 250;
      data[i + 1] = stripe ? 60 : 210;
      data[i + 2] = stripe ? 160 : 30;
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

export const ORIGINAL_EDITS = '/webhooks/:app/:token/messages/@original';

interface MessageBody {
  content?: string;
  components?: unknown[];
  attachments?: unknown[];
  flags?: number;
}

/** The message body a recorded request carried. */
export function bodyOf(request: RecordedRequest): MessageBody {
  return (request.json ?? {});
}

/**
 * Waits for a successful edit of `command`'s original response whose content starts with `prefix`
 * (e.g. ✅, ❌, 🛑, ⏳).
 */
export function waitForEdit(
  fake: FakeDiscord,
  command: InteractionHandle,
  prefix: string,
  timeoutMs = 60_000,
): Promise<RecordedRequest> {
  return fake.waitFor(
    (r) =>
      r.interactionId === command.id &&
      r.method === 'PATCH' &&
      r.route === ORIGINAL_EDITS &&
      r.status < 300 &&
      (bodyOf(r).content ?? '').startsWith(prefix),
    timeoutMs,
  );
}

/** The job id a message names (`job \`7KQ2MX\``). */
export function jobIdIn(text: string | undefined): string {
  const id = /job `([0-9A-Z]{6})`/.exec(text ?? '')?.[1];
  if (!id) throw new Error(`no job id in ${JSON.stringify(text)}`);
  return id;
}

/** The bot's log lines, parsed, that carry this `jobId`. */
export function logsFor(harness: Harness, jobId: string): Array<Record<string, unknown>> {
  return harness.logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.jobId === jobId);
}

import os from 'node:os';
import path from 'node:path';
import { CommanderError } from 'commander';
import { readConfigOrExit } from '../config/index.ts';
import { createEngine } from '../engine/index.ts';
import type { LossTerms, Progress, StyleInput } from '../engine/types.ts';
import { isUserFacing } from '../errors/user-facing-error.ts';
import { decodeLimitsFromConfig, planFit, planStyleSize, readImageFile, writeImageFile } from '../images/index.ts';
import { createLogger } from '../log/logger.ts';
import { loadWeights } from '../weights/index.ts';
import { parseStylizeArgs, type StylizeCliOptions } from './stylize-args.ts';
import { clock, createIterationProgress } from './terminal-progress.ts';

/** The CLI is the admin's own tool, so it is not bound by the bot's MAX_SIZE. */
const MAX_CLI_SIZE = 4096;

/** `npm run stylize -- CONTENT STYLE [STYLE…] -o OUT.png [flags]`; exit 2 with one line on any user error. */
async function main(argv: string[]): Promise<void> {
  const options = parseStylizeArgs(argv);
  const config = readConfigOrExit();
  // Logs go to stderr so that stdout holds only the result (and the --json line).
  const logger = createLogger({ level: options.json ? 'warn' : config.log.level, format: config.log.format, destination: process.stderr });

  const limits = decodeLimitsFromConfig(config.images);
  const size = options.size ?? config.images.defaultSize;
  // Decoding straight to the working size: the full-size pixels of a large photo never exist in memory.
  const content = await readImageFile(options.content, limits, 'content', {
    plan: (original) => planFit(original, size, Math.max(size, MAX_CLI_SIZE), 'content'),
  });
  const styles: StyleInput[] = [];
  for (const [index, file] of options.styles.entries()) {
    const label = options.styles.length > 1 ? `style ${index + 1}` : 'style';
    const image = await readImageFile(file, limits, label, {
      plan: (original) => planStyleSize(original, content, options.styleScale, label),
    });
    styles.push({ image, weight: options.blend?.[index] ?? 1 });
  }

  const weights = options.weights
    ? await loadWeights(options.weights, { logger, progress: 'auto', convertedCacheDir: config.weights.cacheDir })
    : await loadWeights(config.weights, { logger });
  const engine = await createEngine(weights, {
    backend: options.backend ?? config.engine.backend,
    // A command-line run has the machine to itself: all cores unless ENGINE_THREADS says otherwise.
    threads: config.engine.threads ?? os.availableParallelism(),
    logger,
  });
  const backend = engine.backend;
  const saves: Promise<unknown>[] = [];
  const bar = options.json ? undefined : createIterationProgress(path.basename(options.output));
  try {
    const result = await engine.stylize(
      { content, styles, ...(options.preset && { preset: options.preset }), settings: options.settings },
      { onProgress: (p) => onProgress(p, options, bar, saves) },
    );
    bar?.done();
    await Promise.all(saves);
    await writeImageFile(options.output, result.image);
    const summary = {
      output: options.output,
      width: result.image.width,
      height: result.image.height,
      iterations: result.iterations,
      stopReason: result.stopReason,
      strength: result.settings.strength,
      seconds: round(result.seconds, 2),
      msPerIter: round(result.msPerIter, 1),
      backend: backend.name,
      loss: roundLoss(result.loss),
      initialLoss: roundLoss(result.initialLoss),
    };
    if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        `Wrote ${options.output} (${summary.width}×${summary.height}) after ${summary.iterations} iterations in ` +
          `${clock(result.seconds * 1000)} on ${backend.name}${backend.gpu ? ' (GPU)' : ''}` +
          `${result.stopReason === 'converged' ? ' (the image had stopped changing)' : ''}; ` +
          `loss ${fmt(result.initialLoss.total)} → ${fmt(result.loss.total)}\n`,
      );
    }
  } finally {
    await engine.dispose();
  }
}

function onProgress(
  progress: Progress,
  options: StylizeCliOptions,
  bar: ReturnType<typeof createIterationProgress> | undefined,
  saves: Promise<unknown>[],
): void {
  bar?.update({ ...progress, detail: `loss ${fmt(progress.loss.total)}` });
  if (options.saveEvery && progress.iteration % options.saveEvery === 0 && progress.iteration < progress.total) {
    const file = options.output.replace(/(\.[a-z]+)$/i, `-${progress.iteration}$1`);
    saves.push(writeImageFile(file, progress.preview()));
  }
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));
const fmt = (value: number) => value.toPrecision(3);
const roundLoss = (loss: LossTerms): LossTerms => ({
  total: Number(loss.total.toPrecision(6)),
  content: Number(loss.content.toPrecision(6)),
  style: Number(loss.style.toPrecision(6)),
  tv: Number(loss.tv.toPrecision(6)),
});

try {
  await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode); // --help
  if (isUserFacing(error)) {
    process.stderr.write(`stylize: ${error.userMessage}\n`);
    process.exit(2);
  }
  process.stderr.write(`stylize: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

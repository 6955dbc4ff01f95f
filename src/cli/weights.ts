import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import { readConfigOrExit } from '../config/index.ts';
import { createLogger } from '../log/logger.ts';
import { loadWeights, WeightsError, type WeightsLocation } from '../weights/index.ts';

/**
 * `npm run weights`: gets the VGG19 weights ready ahead of the first start. With nothing configured it downloads
 * the default Keras file into WEIGHTS_DIR (or verifies the copy already there); with VGG19_WEIGHTS or --weights
 * it checks that file or URL. Prints a short summary and exits 0, or prints one line on stderr and exits 2.
 */
const program = new Command('npm run weights')
  .description('Download, verify and load the VGG19 weights the bot will use')
  .option('-w, --weights <path-or-url>', 'a Keras .h5 file or TF.js model.json to check instead of VGG19_WEIGHTS')
  .option('-d, --dir <folder>', 'the weights cache folder instead of WEIGHTS_DIR')
  .option('-q, --quiet', 'no download progress')
  .parse();
const options = program.opts<{ weights?: string; dir?: string; quiet?: boolean }>();

const config = readConfigOrExit();
const weightsConfig = {
  source: options.weights ?? config.weights.source,
  cacheDir: options.dir ?? config.weights.cacheDir,
};
// Logs (and download progress when not on a terminal) go to stdout, so stderr holds only the failure line.
const logger = createLogger({ level: options.quiet ? 'warn' : config.log.level, format: config.log.format });

// Ctrl-C during a download removes the partial file and releases the lock; the next run starts afresh.
const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort(new Error('interrupted')));

try {
  const started = performance.now();
  // The start-up code path, so a cached copy of a URL that fails to load is forgotten here too.
  const weights = await loadWeights(weightsConfig, {
    logger,
    progress: options.quiet ? 'none' : 'auto',
    signal: interrupt.signal,
  });
  const location = weights.location!;
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  const names = [...weights.layers.keys()];
  const parameters = [...weights.layers.values()].reduce((sum, l) => sum + l.kernel.length + l.bias.length, 0);
  process.stdout.write(
    [
      `VGG19 weights ready: ${location.label}`,
      `  ${await describeOrigin(location)}`,
      `  ${names.length} layers (${names[0]} … ${names.at(-1)}), ${parameters.toLocaleString('en-US')} parameters, ready in ${seconds} s`,
      '',
    ].join('\n'),
  );
} catch (error) {
  if (interrupt.signal.aborted) {
    process.stderr.write('Interrupted; nothing was saved. Run it again to start over.\n');
    process.exit(130);
  }
  if (error instanceof WeightsError) {
    process.stderr.write(`${error.userMessage}\n`);
    process.exit(2);
  }
  throw error;
}

async function describeOrigin(location: WeightsLocation): Promise<string> {
  const info = await stat(location.file).catch(() => undefined);
  const isTfjs = info?.isDirectory() === true || location.file.endsWith('.json');
  const size = isTfjs ? 'TF.js model' : info ? `${(info.size / 1_000_000).toFixed(1)} MB` : 'size unknown';
  switch (location.origin) {
    case 'default':
      return `${location.downloaded ? 'downloaded now' : 'already downloaded'}, ${size}, MD5 ${location.verifiedMd5} verified`;
    case 'configured-url':
      return `from VGG19_WEIGHTS, ${location.downloaded ? 'downloaded now' : 'cached'} in ${location.file} (${size})`;
    case 'configured-file':
      return `from VGG19_WEIGHTS (${size})`;
  }
}

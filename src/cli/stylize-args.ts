import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { BACKENDS, type BackendChoice } from '../config/index.ts';
import type { ColorMode, InitMode, OptimizerName, Pooling, PresetName, StylizeSettings } from '../engine/types.ts';
import { UserFacingError } from '../errors/user-facing-error.ts';

export class UsageError extends UserFacingError {}

export interface StylizeCliOptions {
  content: string;
  styles: string[];
  output: string;
  size: number | undefined;
  preset: PresetName | undefined;
  settings: Partial<StylizeSettings>;
  blend: number[] | undefined;
  styleScale: number;
  weights: string | undefined;
  backend: BackendChoice | undefined;
  saveEvery: number | undefined;
  json: boolean;
}

const IMAGE_EXTENSION = /\.(png|jpe?g|webp|gif|avif|tiff?)$/i;

function numberArg(name: string, { min, max, integer = false }: { min: number; max: number; integer?: boolean }) {
  return (raw: string): number => {
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      throw new UsageError(`${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max} (got "${raw}")`);
    }
    return value;
  };
}

function choiceArg<T extends string>(name: string, choices: readonly T[]) {
  return (raw: string): T => {
    if (!(choices as readonly string[]).includes(raw)) {
      throw new UsageError(`${name} must be one of ${choices.join(', ')} (got "${raw}")`);
    }
    return raw as T;
  };
}

function blendArg(raw: string): number[] {
  const values = raw.split(',').map((part) => Number(part.trim()));
  if (values.some((v) => !Number.isFinite(v) || v < 0) || values.every((v) => v === 0)) {
    throw new UsageError(`--style-blend must be non-negative numbers separated by commas, e.g. 1,2 (got "${raw}")`);
  }
  return values;
}

const WEIGHT = { min: 0, max: 1e12 };

/** Keras's flags are spelled with underscores; both spellings work. */
function withUnderscoreAlias(program: Command, flag: string, description: string, parse: (raw: string) => number): void {
  program.addOption(new Option(`--${flag} <value>`, description).argParser(parse));
  program.addOption(new Option(`--${flag.replaceAll('-', '_')} <value>`).hideHelp().argParser(parse));
}

export function buildProgram(): Command {
  const program = new Command('stylize')
    .description('Repaint CONTENT in the style of STYLE (Gatys et al. neural style transfer)')
    .argument('<content>', 'content photo')
    .argument('<style...>', 'one or more style images (with the Keras form, the last argument may be a result prefix)')
    .option('-o, --output <file>', 'output image (.png, .jpg or .webp)')
    .addOption(new Option('--iter <n>', 'most iterations (a run stops earlier once the image stops changing)').argParser(numberArg('--iter', { min: 1, max: 100_000, integer: true })))
    .addOption(new Option('--iterations <n>').hideHelp().argParser(numberArg('--iterations', { min: 1, max: 100_000, integer: true })))
    .addOption(new Option('--size <px>', 'long side of the output').argParser(numberArg('--size', { min: 32, max: 4096, integer: true })))
    .addOption(new Option('--strength <0-100>', 'how strongly to repaint: 0 keeps the photo, 100 is the most style (default 50)').argParser(numberArg('--strength', { min: 0, max: 100 })))
    .addOption(new Option('--stop-tolerance <r>', 'stop a scale when its loss improves less than this over 10 iterations (0: never stop early)').argParser(numberArg('--stop-tolerance', { min: 0, max: 1 })))
    .addOption(new Option('--preset <name>', 'default | seed (the article: Adam, 2000 iterations) | keras').argParser(choiceArg('--preset', ['default', 'seed', 'keras'] as const)))
    .addOption(new Option('--optimizer <name>', 'lbfgs | adam').argParser(choiceArg('--optimizer', ['lbfgs', 'adam'] as const)))
    .addOption(new Option('--learning-rate <lr>', 'Adam step size').argParser(numberArg('--learning-rate', { min: 1e-6, max: 1000 })))
    .addOption(new Option('--init <mode>', 'content | noise | random').argParser(choiceArg('--init', ['content', 'noise', 'random'] as const)))
    .addOption(new Option('--noise-ratio <r>', 'share of noise for --init noise').argParser(numberArg('--noise-ratio', { min: 0, max: 1 })))
    .addOption(new Option('--pool <mode>', 'avg | max').argParser(choiceArg('--pool', ['avg', 'max'] as const)))
    .addOption(new Option('--scales <n>', 'coarse-to-fine scales (1 = single scale)').argParser(numberArg('--scales', { min: 1, max: 6, integer: true })))
    .addOption(new Option('--style-blend <weights>', 'blend weights of the style images, e.g. 1,2').argParser(blendArg))
    .addOption(new Option('--style-scale <s>', 'style size relative to the output').default(1).argParser(numberArg('--style-scale', { min: 0.1, max: 4 })))
    .addOption(new Option('--preserve-colors [mode]', "keep the content's colours: luminance (default) | match"))
    .addOption(new Option('--seed <n>', 'random seed, for reproducible runs').argParser(numberArg('--seed', { min: 0, max: 2 ** 31 - 1, integer: true })))
    .option('--weights <pathOrUrl>', 'VGG19 weights (.h5 or model.json); default VGG19_WEIGHTS or the cached download')
    .addOption(new Option('--backend <name>', BACKENDS.join(' | ')).argParser(choiceArg('--backend', BACKENDS)))
    .addOption(new Option('--save-every <n>', 'also write OUT-<iteration>.png every n iterations').argParser(numberArg('--save-every', { min: 1, max: 100_000, integer: true })))
    .option('--json', 'print one JSON summary as the last line of stdout', false);
  withUnderscoreAlias(program, 'content-weight', 'content weight (alpha)', numberArg('--content-weight', WEIGHT));
  withUnderscoreAlias(program, 'style-weight', 'style weight (beta)', numberArg('--style-weight', WEIGHT));
  withUnderscoreAlias(program, 'tv-weight', 'total-variation weight', numberArg('--tv-weight', WEIGHT));
  return program;
}

interface RawOptions {
  output?: string;
  iter?: number;
  iterations?: number;
  size?: number;
  preset?: PresetName;
  optimizer?: OptimizerName;
  learningRate?: number;
  init?: InitMode;
  noiseRatio?: number;
  pool?: Pooling;
  scales?: number;
  strength?: number;
  stopTolerance?: number;
  styleBlend?: number[];
  styleScale: number;
  preserveColors?: string | boolean;
  seed?: number;
  weights?: string;
  backend?: BackendChoice;
  saveEvery?: number;
  json: boolean;
  contentWeight?: number;
  content_weight?: number;
  styleWeight?: number;
  style_weight?: number;
  tvWeight?: number;
  tv_weight?: number;
}

/** Parses argv (without node and the script). Throws UsageError with one line on any mistake. */
export function parseStylizeArgs(argv: readonly string[]): StylizeCliOptions {
  const program = buildProgram()
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: (text) => process.stdout.write(text) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') throw error;
      throw new UsageError(error.message.replace(/^error: /, ''));
    }
    throw error;
  }
  const raw = program.opts<RawOptions>();
  const [content, ...rest] = program.args as [string, ...string[]];
  let styles = rest;
  let output = raw.output;
  if (output === undefined) {
    // The Keras example's form: base.jpg style.jpg result_prefix
    const last = styles.at(-1);
    if (styles.length >= 2 && last && !IMAGE_EXTENSION.test(last) && !existsSync(last)) {
      output = `${last}.png`;
      styles = styles.slice(0, -1);
    } else {
      throw new UsageError('say where to write the result: -o OUT.png (or give a result prefix after the styles)');
    }
  }
  if (!/\.(png|jpe?g|webp)$/i.test(output)) throw new UsageError(`the output must end in .png, .jpg or .webp (got "${output}")`);
  if (raw.styleBlend && raw.styleBlend.length !== styles.length) {
    throw new UsageError(`--style-blend has ${raw.styleBlend.length} weights for ${styles.length} style image(s)`);
  }
  const colors = colorMode(raw.preserveColors);
  const iterations = raw.iter ?? raw.iterations;
  const contentWeight = raw.contentWeight ?? raw.content_weight;
  const styleWeight = raw.styleWeight ?? raw.style_weight;
  const tvWeight = raw.tvWeight ?? raw.tv_weight;
  const settings: Partial<StylizeSettings> = {
    ...(iterations !== undefined && { iterations }),
    ...(contentWeight !== undefined && { contentWeight }),
    ...(styleWeight !== undefined && { styleWeight }),
    ...(tvWeight !== undefined && { tvWeight }),
    ...(raw.optimizer && { optimizer: raw.optimizer }),
    ...(raw.learningRate !== undefined && { learningRate: raw.learningRate }),
    ...(raw.init && { init: raw.init }),
    ...(raw.noiseRatio !== undefined && { noiseRatio: raw.noiseRatio }),
    ...(raw.pool && { pooling: raw.pool }),
    ...(raw.scales !== undefined && { scales: raw.scales }),
    ...(raw.strength !== undefined && { strength: raw.strength }),
    ...(raw.stopTolerance !== undefined && { stopTolerance: raw.stopTolerance }),
    ...(raw.seed !== undefined && { seed: raw.seed }),
    ...(colors && { colors }),
  };
  return {
    content,
    styles,
    output: path.resolve(output),
    size: raw.size,
    preset: raw.preset,
    settings,
    blend: raw.styleBlend,
    styleScale: raw.styleScale,
    weights: raw.weights,
    backend: raw.backend,
    saveEvery: raw.saveEvery,
    json: raw.json,
  };
}

function colorMode(value: string | boolean | undefined): ColorMode | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true || value === 'luminance') return 'luminance';
  if (value === 'match') return 'match';
  throw new UsageError(`--preserve-colors takes luminance or match (got "${value}")`);
}

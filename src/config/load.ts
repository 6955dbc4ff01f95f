import path from 'node:path';
import dotenv from 'dotenv';
import { envSchema, ENV_NAMES, type BackendChoice, type Env, type ImageFormat } from './schema.ts';
import { Secret } from './secret.ts';

export interface GuildLimit {
  maxSize?: number;
  maxIterations?: number;
  /** Reserved, waiting plus running jobs from this server at once. */
  maxJobs?: number;
}

export interface Config {
  discord: {
    /** Absent only for tools that never log in (CLI, benchmark); the bot's start-up requires it. */
    token: Secret | undefined;
    applicationId: string | undefined;
    guildId: string | undefined;
    apiUrl: string;
    attachmentHosts: string[];
    registerCommandsOnStart: boolean;
  };
  weights: { source: string | undefined; cacheDir: string };
  engine: {
    backend: BackendChoice;
    /** Engine worker processes (ENGINE_WORKERS); undefined: chosen from the backend, cores and memory. */
    workers: number | undefined;
    /** CPU threads per worker (ENGINE_THREADS); undefined: the cores shared out among the workers. */
    threads: number | undefined;
  };
  images: {
    maxUploadBytes: number;
    maxInputPixels: number;
    formats: ImageFormat[];
    defaultSize: number;
    maxSize: number;
  };
  jobs: {
    defaultIterations: number | undefined;
    maxIterations: number;
    timeoutMs: number;
    guildLimits: Record<string, GuildLimit>;
  };
  queue: { maxQueue: number; maxJobsPerUser: number; shutdownGraceMs: number };
  bot: { progressIntervalMs: number; downloadTimeoutMs: number };
  log: { level: Env['LOG_LEVEL']; format: Env['LOG_FORMAT'] };
}

/** Start-up refused: `problems` holds one line per bad variable, naming it and what is wrong. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** The bot needs a token; the CLI and benchmark do not. */
  requireToken?: boolean;
  /** Directory that relative paths (WEIGHTS_DIR) resolve against. */
  cwd?: string;
}

/** Reads `.env` (or DOTENV_CONFIG_PATH) into process.env without overriding variables that are already set. */
export function loadDotenv(file = process.env.DOTENV_CONFIG_PATH ?? '.env'): void {
  dotenv.config({ path: file, quiet: true });
}

/** Builds the typed config from environment variables. Empty values count as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): Config {
  const raw: Record<string, string> = {};
  for (const name of ENV_NAMES) {
    const value = env[name]?.trim();
    if (value) raw[name] = value;
  }

  const parsed = envSchema.safeParse(raw);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? 'environment');
      problems.push(`${name} ${issue.message}${raw[name] === undefined ? '' : describeValue(name, raw[name])}`);
    }
  }
  if (options.requireToken && raw.DISCORD_TOKEN === undefined) {
    problems.unshift('DISCORD_TOKEN is missing: copy .env.example to .env and set DISCORD_TOKEN to your bot token');
  }
  if (parsed.success) problems.push(...crossChecks(parsed.data));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);

  return toConfig(parsed.data, options.cwd ?? process.cwd());
}

function describeValue(name: string, value: string): string {
  if (name === 'DISCORD_TOKEN') return ''; // never echo a credential, even a malformed one
  const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
  return ` (got "${shown}")`;
}

function crossChecks(env: Env): string[] {
  const problems: string[] = [];
  if (env.DEFAULT_SIZE > env.MAX_SIZE) {
    problems.push(`DEFAULT_SIZE must be at most MAX_SIZE (${env.MAX_SIZE}) (got "${env.DEFAULT_SIZE}")`);
  }
  if (env.DEFAULT_ITERATIONS !== undefined && env.DEFAULT_ITERATIONS > env.MAX_ITERATIONS) {
    problems.push(
      `DEFAULT_ITERATIONS must be at most MAX_ITERATIONS (${env.MAX_ITERATIONS}) (got "${env.DEFAULT_ITERATIONS}")`,
    );
  }
  return problems;
}

function toConfig(env: Env, cwd: string): Config {
  return {
    discord: {
      token: env.DISCORD_TOKEN === undefined ? undefined : new Secret(env.DISCORD_TOKEN),
      applicationId: env.DISCORD_APPLICATION_ID,
      guildId: env.DISCORD_GUILD_ID,
      apiUrl: env.DISCORD_API_URL.replace(/\/+$/, ''),
      attachmentHosts: env.ATTACHMENT_HOSTS.map((h) => h.toLowerCase()),
      registerCommandsOnStart: env.REGISTER_COMMANDS_ON_START,
    },
    weights: { source: env.VGG19_WEIGHTS, cacheDir: path.resolve(cwd, env.WEIGHTS_DIR) },
    engine: { backend: env.ENGINE_BACKEND, workers: env.ENGINE_WORKERS, threads: env.ENGINE_THREADS },
    images: {
      maxUploadBytes: env.MAX_UPLOAD_BYTES,
      maxInputPixels: env.MAX_INPUT_PIXELS,
      formats: env.IMAGE_FORMATS,
      defaultSize: env.DEFAULT_SIZE,
      maxSize: env.MAX_SIZE,
    },
    jobs: {
      defaultIterations: env.DEFAULT_ITERATIONS,
      maxIterations: env.MAX_ITERATIONS,
      timeoutMs: env.JOB_TIMEOUT_SECONDS * 1000,
      guildLimits: env.GUILD_LIMITS ?? {},
    },
    queue: {
      maxQueue: env.MAX_QUEUE,
      maxJobsPerUser: env.MAX_JOBS_PER_USER,
      shutdownGraceMs: env.SHUTDOWN_GRACE_SECONDS * 1000,
    },
    bot: { progressIntervalMs: env.PROGRESS_INTERVAL_MS, downloadTimeoutMs: env.DOWNLOAD_TIMEOUT_MS },
    log: { level: env.LOG_LEVEL, format: env.LOG_FORMAT },
  };
}

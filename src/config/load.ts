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
  /** The bot's own files: the server style library and the inputs kept for remixing (DATA_DIR). */
  data: {
    /** Absolute; created on first start. */
    dir: string;
    /** How long a result's inputs stay remixable (REMIX_RETENTION_HOURS). */
    remixRetentionMs: number;
    /** Disk the kept inputs may take; beyond it the oldest are dropped (REMIX_MAX_DISK_MB). */
    remixMaxBytes: number;
    /** Saved styles per server (MAX_STYLES_PER_SERVER). */
    maxStylesPerServer: number;
    /** Members with this role (a name or an id) may add and remove saved styles, besides Manage Server. */
    styleManagerRole: string | undefined;
  };
  /** Set: the queue lives in Redis (BullMQ) and `npm run worker` processes on any machine run the jobs. */
  redis: {
    /** The URL as given (it may hold a password): only the Redis client sees `reveal()`. */
    url: Secret | undefined;
    /** The URL with any password masked, for logs and messages. */
    displayUrl: string | undefined;
    /** Namespace of every key, so that several bots can share one Redis. */
    prefix: string;
    /** How long a job's images may wait for a worker, and its result for a bot (REDIS_DATA_TTL_HOURS). */
    dataTtlMs: number;
  };
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
  /** Directory that relative paths (WEIGHTS_DIR, DATA_DIR) resolve against. */
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
  if (name === 'REDIS_URL') {
    const masked = maskUrlPassword(value);
    return masked === undefined ? '' : ` (got "${masked}")`;
  }
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
    data: {
      dir: path.resolve(cwd, env.DATA_DIR),
      remixRetentionMs: env.REMIX_RETENTION_HOURS * 3_600_000,
      remixMaxBytes: env.REMIX_MAX_DISK_MB * 1024 * 1024,
      maxStylesPerServer: env.MAX_STYLES_PER_SERVER,
      styleManagerRole: env.STYLE_MANAGER_ROLE,
    },
    redis: {
      url: env.REDIS_URL === undefined ? undefined : new Secret(env.REDIS_URL),
      displayUrl: env.REDIS_URL === undefined ? undefined : (maskUrlPassword(env.REDIS_URL) ?? 'redis://'),
      prefix: env.REDIS_PREFIX,
      dataTtlMs: env.REDIS_DATA_TTL_HOURS * 3_600_000,
    },
    log: { level: env.LOG_LEVEL, format: env.LOG_FORMAT },
  };
}

/**
 * The URL with its password replaced by `***`, for logs and messages; undefined for text that is not a URL at all
 * (it might be a bare password pasted into the wrong place), which is then never shown.
 */
export function maskUrlPassword(text: string): string | undefined {
  try {
    const url = new URL(text);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return undefined;
  }
}

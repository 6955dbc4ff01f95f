import { z } from 'zod';

/**
 * Every environment variable the bot reads, with its default and range. `.env.example` documents the same
 * list for admins; a test keeps the two in step.
 */

const MiB = 1024 * 1024;

export const IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** ENGINE_BACKEND: `onnx` is ONNX Runtime on CUDA when its provider is installed, else on the CPU. */
export const BACKENDS = ['auto', 'onnx', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const int = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` })
    .default(fallback);

const optionalInt = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` })
    .optional();

/** A whole number, or `auto` for a value the program works out (parsed as undefined). */
const autoInt = (min: number, max: number) =>
  z
    .string()
    .default('auto')
    .transform((text, ctx) => {
      if (text.toLowerCase() === 'auto') return undefined;
      const value = Number(text);
      if (!Number.isInteger(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `must be auto or a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return value;
    });

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const snowflake = z.string().regex(/^\d{17,20}$/, { error: 'must be a Discord id (17 to 20 digits)' });

const commaList = z.string().transform((s) =>
  s
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0),
);

const hostList = commaList.pipe(
  z
    .array(z.string().regex(/^[a-z0-9.-]+(:\d+)?$/i, { error: 'must be host names, e.g. cdn.discordapp.com' }))
    .min(1, { error: 'must name at least one host' }),
);

const formatList = commaList.pipe(
  z
    .array(z.enum(IMAGE_FORMATS, { error: `must be a list drawn from ${IMAGE_FORMATS.join(', ')}` }))
    .min(1, { error: 'must name at least one format' }),
);

/** Largest output long side: the /stylize size choices stop here, and the wasm heap (4 GiB) holds no larger run. */
export const MAX_OUTPUT_SIDE = 2048;

const guildLimit = z
  .object({
    maxSize: z.number().int().min(64).max(MAX_OUTPUT_SIDE).optional(),
    maxIterations: z.number().int().min(1).max(100_000).optional(),
    maxJobs: z.number().int().min(1).max(10_000).optional(),
  })
  .strict();

const guildLimits = z.string().transform((text, ctx) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be JSON, e.g. {"123456789012345678":{"maxSize":512}}' });
    return z.NEVER;
  }
  const result = z.record(snowflake, guildLimit).safeParse(parsed);
  if (!result.success) {
    ctx.addIssue({
      code: 'custom',
      message: `must map guild ids to {"maxSize": 64-${MAX_OUTPUT_SIDE}, "maxIterations": 1-100000, "maxJobs": 1-10000}`,
    });
    return z.NEVER;
  }
  return result.data;
});

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** redis://[:password@]host[:port][/db] or rediss:// (TLS). Never echoed in errors: it may hold a password. */
const redisUrl = z.string().refine(
  (text) => {
    try {
      const url = new URL(text);
      return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '' && /^(\/\d{0,2})?$/.test(url.pathname);
    } catch {
      return false;
    }
  },
  { error: 'must be a redis:// or rediss:// URL, e.g. redis://:password@10.0.0.5:6379/0' },
);

export const envSchema = z.object({
  DISCORD_TOKEN: z
    .string({ error: 'is missing' })
    .regex(/^[\w-]+\.[\w-]+\.[\w-]+$/, {
      error: 'does not look like a bot token (three dot-separated parts, from Developer Portal > Bot)',
    })
    .optional(),
  DISCORD_APPLICATION_ID: snowflake.optional(),
  DISCORD_GUILD_ID: snowflake.optional(),
  DISCORD_API_URL: httpUrl.default('https://discord.com/api'),
  ATTACHMENT_HOSTS: hostList.default(['cdn.discordapp.com', 'media.discordapp.net']),
  REGISTER_COMMANDS_ON_START: bool(false),

  VGG19_WEIGHTS: z.string().optional(),
  WEIGHTS_DIR: z.string().default('models'),

  ENGINE_BACKEND: z.enum(BACKENDS, { error: `must be one of ${BACKENDS.join(', ')}` }).default('auto'),
  ENGINE_WORKERS: autoInt(1, 64),
  ENGINE_THREADS: autoInt(1, 256),

  MAX_UPLOAD_BYTES: int(1024, 100 * MiB, 20 * MiB),
  MAX_INPUT_PIXELS: int(1024, 268_402_689, 50_000_000),
  IMAGE_FORMATS: formatList.default(['jpeg', 'png', 'webp', 'gif', 'avif']),
  DEFAULT_SIZE: int(64, MAX_OUTPUT_SIDE, 512),
  MAX_SIZE: int(64, MAX_OUTPUT_SIDE, 1024),

  DEFAULT_ITERATIONS: optionalInt(1, 100_000),
  MAX_ITERATIONS: int(1, 100_000, 1000),
  JOB_TIMEOUT_SECONDS: int(10, 86_400, 900),
  GUILD_LIMITS: guildLimits.optional(),

  MAX_QUEUE: int(1, 10_000, 20),
  MAX_JOBS_PER_USER: int(1, 100, 1),
  SHUTDOWN_GRACE_SECONDS: int(0, 3600, 30),

  PROGRESS_INTERVAL_MS: int(1000, 600_000, 5000),
  DOWNLOAD_TIMEOUT_MS: int(1000, 300_000, 20_000),

  DATA_DIR: z.string().default('data'),
  REMIX_RETENTION_HOURS: int(1, 720, 24),
  REMIX_MAX_DISK_MB: int(16, 1_048_576, 2048),
  MAX_STYLES_PER_SERVER: int(1, 500, 25),
  STYLE_MANAGER_ROLE: z
    .string()
    .max(100, { error: 'must be a role name or id of at most 100 characters' })
    .optional(),

  REDIS_URL: redisUrl.optional(),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: 'must be 1 to 32 letters, digits, _ . or -' })
    .default('stylebot'),
  REDIS_DATA_TTL_HOURS: int(1, 168, 24),

  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  LOG_FORMAT: z.enum(['auto', 'pretty', 'json'], { error: 'must be auto, pretty or json' }).default('auto'),
});

export type Env = z.infer<typeof envSchema>;
export type EnvName = keyof Env;
export const ENV_NAMES = Object.keys(envSchema.shape) as EnvName[];

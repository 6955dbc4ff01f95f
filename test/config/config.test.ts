import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { ENV_NAMES } from '../../src/config/schema.ts';
import { PRESETS } from '../../src/engine/presets.ts';
import { createLogger } from '../../src/log/logger.ts';
import { memoryDestination } from '../helpers/memory-log.ts';

const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4OTA.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789ABCD';
const root = path.resolve(import.meta.dirname, '../..');

function problemsOf(env: Record<string, string>, requireToken = false): string[] {
  try {
    loadConfig(env, { requireToken, cwd: '/srv/bot' });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('config defaults', () => {
  it('fills every default from an empty environment', () => {
    const config = loadConfig({}, { cwd: '/srv/bot' });
    expect(config.discord.token).toBeUndefined();
    expect(config.discord.apiUrl).toBe('https://discord.com/api');
    expect(config.discord.attachmentHosts).toEqual(['cdn.discordapp.com', 'media.discordapp.net']);
    expect(config.discord.registerCommandsOnStart).toBe(false);
    expect(config.weights).toEqual({ source: undefined, cacheDir: '/srv/bot/models' });
    expect(config.engine.backend).toBe('auto');
    expect(config.images).toEqual({
      maxUploadBytes: 20 * 1024 * 1024,
      maxInputPixels: 50_000_000,
      formats: ['jpeg', 'png', 'webp', 'gif', 'avif'],
      defaultSize: 512,
      maxSize: 1024,
    });
    expect(config.jobs).toEqual({ defaultIterations: undefined, maxIterations: 1000, timeoutMs: 900_000, guildLimits: {} });
    expect(config.engine).toEqual({ backend: 'auto', workers: undefined, threads: undefined });
    expect(config.queue).toEqual({ maxQueue: 20, maxJobsPerUser: 1, shutdownGraceMs: 30_000 });
    expect(config.bot).toEqual({ progressIntervalMs: 5000, downloadTimeoutMs: 20_000 });
    expect(config.data).toEqual({
      dir: '/srv/bot/data',
      remixRetentionMs: 24 * 3_600_000,
      remixMaxBytes: 2048 * 1024 * 1024,
      maxStylesPerServer: 25,
      styleManagerRole: undefined,
    });
    expect(config.redis).toEqual({ url: undefined, displayUrl: undefined, prefix: 'stylebot', dataTtlMs: 24 * 3_600_000 });
    expect(config.log).toEqual({ level: 'info', format: 'auto' });
  });

  it('treats empty and blank values as unset', () => {
    const config = loadConfig({ MAX_QUEUE: '', LOG_LEVEL: '   ' });
    expect(config.queue.maxQueue).toBe(20);
    expect(config.log.level).toBe('info');
  });

  it('parses explicit values', () => {
    const config = loadConfig({
      DISCORD_TOKEN: TOKEN,
      DISCORD_GUILD_ID: '123456789012345678',
      DISCORD_API_URL: 'http://127.0.0.1:3000/api/',
      ATTACHMENT_HOSTS: '127.0.0.1:3000, CDN.example.com',
      REGISTER_COMMANDS_ON_START: 'yes',
      IMAGE_FORMATS: 'png,jpeg',
      GUILD_LIMITS: '{"123456789012345678":{"maxSize":256,"maxIterations":50}}',
      JOB_TIMEOUT_SECONDS: '60',
    });
    expect(config.discord.token?.reveal()).toBe(TOKEN);
    expect(config.discord.apiUrl).toBe('http://127.0.0.1:3000/api');
    expect(config.discord.attachmentHosts).toEqual(['127.0.0.1:3000', 'cdn.example.com']);
    expect(config.discord.registerCommandsOnStart).toBe(true);
    expect(config.images.formats).toEqual(['png', 'jpeg']);
    expect(config.jobs.guildLimits).toEqual({ '123456789012345678': { maxSize: 256, maxIterations: 50 } });
    expect(config.jobs.timeoutMs).toBe(60_000);
  });

  it('documents every variable in .env.example', () => {
    const example = readFileSync(path.join(root, '.env.example'), 'utf8');
    for (const name of ENV_NAMES) expect(example, name).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
  });

  it('shows each default in .env.example as it is: setting the shown value changes nothing', () => {
    const example = readFileSync(path.join(root, '.env.example'), 'utf8');
    const shown = [...example.matchAll(/^# ?([A-Z0-9_]+)=(.+)$/gm)].map(([, name, value]) => [name!, value!] as const);
    expect(shown.length).toBeGreaterThan(15);
    const defaults = inspect(loadConfig({}, { cwd: '/srv/bot' }), { depth: 5 });
    for (const [name, value] of shown) {
      expect(inspect(loadConfig({ [name]: value }, { cwd: '/srv/bot' }), { depth: 5 }), name).toBe(defaults);
    }
  });

  it('names the engine’s default iteration count where the docs mention it', () => {
    const engineDefault = String(PRESETS.default.iterations);
    const example = readFileSync(path.join(root, '.env.example'), 'utf8');
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(example).toMatch(new RegExp(`engine's default \\(${engineDefault}\\)`));
    expect(readme).toMatch(new RegExp(`\\| \`DEFAULT_ITERATIONS\` \\| the engine's \\(${engineDefault}\\) \\|`));
    expect(readme).toMatch(new RegExp(`\\(default ${engineDefault}\\)`));
  });
});

describe('config errors', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ DISCORD_TOKEN: 'not a token' }, /^DISCORD_TOKEN does not look like a bot token/],
    [{ DISCORD_APPLICATION_ID: '12ab' }, /^DISCORD_APPLICATION_ID must be a Discord id .*"12ab"/],
    [{ DISCORD_GUILD_ID: '1' }, /^DISCORD_GUILD_ID must be a Discord id/],
    [{ DISCORD_API_URL: 'ftp://x' }, /^DISCORD_API_URL must be an http\(s\) URL/],
    [{ ATTACHMENT_HOSTS: 'https://cdn.discordapp.com/' }, /^ATTACHMENT_HOSTS must be host names/],
    [{ REGISTER_COMMANDS_ON_START: 'maybe' }, /^REGISTER_COMMANDS_ON_START must be true or false/],
    [{ ENGINE_BACKEND: 'webgl' }, /^ENGINE_BACKEND must be one of auto, onnx, webgpu, tensorflow, wasm, cpu/],
    [{ MAX_UPLOAD_BYTES: '10' }, /^MAX_UPLOAD_BYTES must be at least 1024 \(got "10"\)/],
    [{ MAX_INPUT_PIXELS: 'lots' }, /^MAX_INPUT_PIXELS must be a whole number/],
    [{ IMAGE_FORMATS: 'png,svg' }, /^IMAGE_FORMATS must be a list drawn from/],
    [{ DEFAULT_SIZE: '32' }, /^DEFAULT_SIZE must be at least 64/],
    [{ MAX_SIZE: '5000' }, /^MAX_SIZE must be at most 2048/],
    [{ DEFAULT_SIZE: '800', MAX_SIZE: '512' }, /^DEFAULT_SIZE must be at most MAX_SIZE \(512\)/],
    [{ DEFAULT_ITERATIONS: '0' }, /^DEFAULT_ITERATIONS must be at least 1/],
    [{ DEFAULT_ITERATIONS: '600', MAX_ITERATIONS: '500' }, /^DEFAULT_ITERATIONS must be at most MAX_ITERATIONS/],
    [{ MAX_ITERATIONS: '1.5' }, /^MAX_ITERATIONS must be a whole number/],
    [{ JOB_TIMEOUT_SECONDS: '5' }, /^JOB_TIMEOUT_SECONDS must be at least 10/],
    [{ GUILD_LIMITS: '{bad json' }, /^GUILD_LIMITS must be JSON/],
    [{ GUILD_LIMITS: '{"123456789012345678":{"maxSize":1}}' }, /^GUILD_LIMITS must map guild ids/],
    [{ ENGINE_WORKERS: '0' }, /^ENGINE_WORKERS must be auto or a whole number from 1 to 64/],
    [{ ENGINE_THREADS: 'many' }, /^ENGINE_THREADS must be auto or a whole number from 1 to 256/],
    [{ MAX_QUEUE: '-3' }, /^MAX_QUEUE must be at least 1/],
    [{ MAX_JOBS_PER_USER: '1000' }, /^MAX_JOBS_PER_USER must be at most 100/],
    [{ SHUTDOWN_GRACE_SECONDS: 'x' }, /^SHUTDOWN_GRACE_SECONDS must be a whole number/],
    [{ PROGRESS_INTERVAL_MS: '100' }, /^PROGRESS_INTERVAL_MS must be at least 1000/],
    [{ DOWNLOAD_TIMEOUT_MS: '999999999' }, /^DOWNLOAD_TIMEOUT_MS must be at most 300000/],
    [{ REDIS_URL: 'http://localhost:6379' }, /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL.*\(got "http:\/\/localhost:6379\/"\)/],
    [{ REDIS_URL: 'redis://:pw@host:6379/notadb' }, /^REDIS_URL must be a redis/],
    [{ REDIS_PREFIX: 'a:b' }, /^REDIS_PREFIX must be 1 to 32 letters/],
    [{ REDIS_DATA_TTL_HOURS: '0' }, /^REDIS_DATA_TTL_HOURS must be at least 1/],
    [{ REMIX_RETENTION_HOURS: '0' }, /^REMIX_RETENTION_HOURS must be at least 1/],
    [{ REMIX_MAX_DISK_MB: '1' }, /^REMIX_MAX_DISK_MB must be at least 16/],
    [{ MAX_STYLES_PER_SERVER: '1000' }, /^MAX_STYLES_PER_SERVER must be at most 500/],
    [{ LOG_LEVEL: 'verbose' }, /^LOG_LEVEL must be one of fatal, error/],
    [{ LOG_FORMAT: 'xml' }, /^LOG_FORMAT must be auto, pretty or json/],
  ];

  it.each(cases)('%o is refused with one line naming the variable', (env, expected) => {
    const problems = problemsOf(env);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
  });

  it('reports every problem at once, one line each', () => {
    const problems = problemsOf({ MAX_QUEUE: '0', LOG_LEVEL: 'loud', ENGINE_BACKEND: 'gpu' }, true);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^DISCORD_TOKEN is missing.*\.env\.example/);
    expect(problems.every((p) => !p.includes('\n'))).toBe(true);
  });

  it('requires a token only when asked', () => {
    expect(problemsOf({}, false)).toEqual([]);
    expect(problemsOf({}, true)).toEqual([
      'DISCORD_TOKEN is missing: copy .env.example to .env and set DISCORD_TOKEN to your bot token',
    ]);
  });
});

describe('REDIS_URL', () => {
  it('keeps the URL for the client and masks its password everywhere else', () => {
    const url = 'rediss://default:s3cret-Passw0rd@redis.internal:6380/2';
    const config = loadConfig({ REDIS_URL: url, REDIS_PREFIX: 'guild-a', REDIS_DATA_TTL_HOURS: '2' });
    expect(config.redis.url?.reveal()).toBe(url);
    expect(config.redis.displayUrl).toBe('rediss://default:***@redis.internal:6380/2');
    expect(config.redis).toMatchObject({ prefix: 'guild-a', dataTtlMs: 2 * 3_600_000 });
    expect(inspect(config, { depth: 10 })).not.toContain('s3cret');
    expect(JSON.stringify(config)).not.toContain('s3cret');
  });

  it('never echoes a password in a refusal, nor text that might be one', () => {
    const wrongScheme = problemsOf({ REDIS_URL: 'http://:hunter22@host:6379' });
    expect(wrongScheme).toHaveLength(1);
    expect(wrongScheme[0]).toContain('(got "http://:***@host:6379/")');
    const bare = problemsOf({ REDIS_URL: 'hunter22' });
    expect(bare).toEqual(['REDIS_URL must be a redis:// or rediss:// URL, e.g. redis://:password@10.0.0.5:6379/0']);
  });
});

describe('token redaction', () => {
  it('never shows the token through inspect, JSON or string conversion', () => {
    const config = loadConfig({ DISCORD_TOKEN: TOKEN });
    expect(inspect(config, { depth: 10 })).not.toContain(TOKEN);
    expect(JSON.stringify(config)).not.toContain(TOKEN);
    expect(`${String(config.discord.token)}`).toBe('[redacted]');
  });

  it('never echoes a malformed token in the error', () => {
    const bad = `${TOKEN} `.replace('.', ' ');
    const problems = problemsOf({ DISCORD_TOKEN: bad });
    expect(problems.join('\n')).not.toContain(bad.trim().slice(0, 20));
  });

  it('keeps the token out of debug logs, however it is passed', async () => {
    const config = loadConfig({ DISCORD_TOKEN: TOKEN, LOG_LEVEL: 'trace' });
    const { stream, lines } = memoryDestination();
    const log = createLogger({ level: 'trace', secrets: [TOKEN], destination: stream });
    log.debug({ config }, 'config loaded');
    log.debug({ token: TOKEN, headers: { authorization: `Bot ${TOKEN}` } }, 'request');
    log.debug(`raw string ${TOKEN}`);
    log.error(new Error(`login failed with ${TOKEN}`), 'login');
    log.error({ err: new Error('x', { cause: new Error(`inner ${TOKEN}`) }) }, 'nested');
    log.warn({ url: 'https://discord.com/api/v10/webhooks/1234567/aW50ZXJhY3Rpb246MTIzNDU2Nzg5OmFiY2Rl/messages/@original' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(6);
    const all = lines.join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain('aW50ZXJhY3Rpb246MTIzNDU2Nzg5OmFiY2Rl');
    expect(all).toContain('login failed with [redacted]');
    expect(all).toContain('/webhooks/1234567/[redacted]');
  });
});

describe('npm start without a token', () => {
  it('exits 1 with one message naming DISCORD_TOKEN and .env.example', async () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      // Through npm itself, so that a broken "start" script in package.json fails this test too.
      const child = execFile(
        'npm',
        ['start'],
        // An empty directory as cwd would miss node_modules; instead point dotenv at no file via a clean env.
        { cwd: root, env: { ...env, DOTENV_CONFIG_PATH: '/nonexistent' } },
        (_error, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/DISCORD_TOKEN is missing/);
    expect(result.stderr).toMatch(/\.env\.example/);
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });
});

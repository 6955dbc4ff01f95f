import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/shared-data.ts';

/** `npm run worker` through npm itself, so that a broken "worker" script in package.json fails here too. */
function runWorker(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      'npm',
      ['run', '--silent', 'worker'],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, DOTENV_CONFIG_PATH: '/nonexistent', ...env }, timeout: 30_000 },
      (_error, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
    );
  });
}

describe('npm run worker', () => {
  it('needs REDIS_URL and says so in one line; it never asks for a Discord token', async () => {
    const result = await runWorker({});
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'config: REDIS_URL is missing: `npm run worker` takes its jobs from the Redis queue the bot uses; set REDIS_URL to the same URL as the bot (see "Scaling out" in README.md)',
    ]);
  });

  it('refuses a malformed REDIS_URL without echoing its password', async () => {
    const result = await runWorker({ REDIS_URL: 'http://:hunter22secret@10.0.0.5:6379' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('REDIS_URL must be a redis:// or rediss:// URL');
    expect(result.stderr).not.toContain('hunter22secret');
    expect(result.stderr).not.toMatch(/DISCORD_TOKEN/);
  });
});

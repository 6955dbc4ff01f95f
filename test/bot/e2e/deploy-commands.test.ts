import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeDiscord, type FakeDiscord } from '../../fake-discord/index.ts';
import { REPO_ROOT } from '../../helpers/shared-data.ts';

let fake: FakeDiscord | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

function deploy(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/deploy-commands.ts'],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, DOTENV_CONFIG_PATH: '/nonexistent', ...env } },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

interface CommandBody {
  name: string;
  type?: number;
  options?: {
    name: string;
    type: number;
    required?: boolean;
    autocomplete?: boolean;
    choices?: { value: number }[];
    max_value?: number;
  }[];
}

describe('npm run deploy-commands', () => {
  it('registers every command in the configured guild, with ranges from the config', async () => {
    fake = await startFakeDiscord();
    const result = await deploy({ ...fake.env(), DISCORD_GUILD_ID: fake.guild.id, MAX_SIZE: '768', MAX_ITERATIONS: '400' });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /Registered \/queue, \/styles, “Stylize this image” \(on messages\), \/stylize in guild \d+ \(available now\)/,
    );
    const put = fake.requestsTo('PUT', '/applications/:app/guilds/:guild/commands');
    expect(put).toHaveLength(1);
    const commands = put[0]!.json as CommandBody[];
    expect(commands.map((c) => c.name).sort()).toEqual(['Stylize this image', 'queue', 'styles', 'stylize']);
    expect(commands.find((c) => c.name === 'Stylize this image')).toMatchObject({ type: 3 });
    const stylize = commands.find((c) => c.name === 'stylize')!;
    const option = (name: string) => stylize.options!.find((o) => o.name === name)!;
    expect(option('content')).toMatchObject({ type: 11, required: true });
    expect(option('style')).toMatchObject({ type: 11, required: false });
    expect(option('preset')).toMatchObject({ type: 3, autocomplete: true });
    expect(option('size').choices!.map((c) => c.value)).toEqual([128, 256, 384, 512, 768]);
    expect(option('iterations').max_value).toBe(400);
  }, 60_000);

  it('registers globally without a guild id', async () => {
    fake = await startFakeDiscord();
    const result = await deploy(fake.env());
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/globally/);
    expect(fake.requestsTo('PUT', '/applications/:app/commands')).toHaveLength(1);
  }, 60_000);

  it('exits 1 naming DISCORD_TOKEN when it is missing', async () => {
    const result = await deploy({});
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/DISCORD_TOKEN is missing/);
  }, 60_000);
});

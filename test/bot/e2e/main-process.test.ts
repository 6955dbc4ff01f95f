import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeDiscord, type FakeDiscord } from '../../fake-discord/index.ts';
import { hasSharedVgg19, REPO_ROOT, SHARED_VGG19 } from '../../helpers/shared-data.ts';


interface Child {
  exit: Promise<number | null>;
  output: () => string;
  kill: (signal: NodeJS.Signals) => void;
}

/** `npm start`'s entry point as a real process, configured only through its environment. */
function startMain(env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bot/main.ts'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DOTENV_CONFIG_PATH: '/nonexistent', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const handle: Child = {
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    output: () => output,
    kill: (signal) => child.kill(signal),
  };
  children.push(handle);
  return handle;
}

let fake: FakeDiscord | undefined;
let temp: string | undefined;
const children: Child[] = [];
afterEach(async () => {
  // A test that failed half-way must not leave the bot (and its engine workers) running.
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await fake?.close();
  fake = undefined;
  if (temp) await rm(temp, { recursive: true, force: true });
  temp = undefined;
});

describe('npm start', () => {
  it('refuses to start, before logging in, when the configured weights are bad', async () => {
    fake = await startFakeDiscord();
    temp = await mkdtemp(path.join(os.tmpdir(), 'stylebot-main-'));
    const weights = path.join(temp, 'vgg19.h5');
    await writeFile(weights, '<!DOCTYPE html><html><body>404 Not Found</body></html>');
    const child = startMain({ ...fake.env(), VGG19_WEIGHTS: weights, DATA_DIR: path.join(temp, 'data') });
    expect(await child.exit).toBe(1);
    expect(child.output()).toMatch(/Cannot start: .*vgg19\.h5.*HTML/i);
    expect(child.output()).not.toContain(fake.token);
    expect(fake.gateway.connections()).toEqual([]);
  }, 60_000);

  it.skipIf(!hasSharedVgg19)(
    'starts with real weights, logs a one-line summary, and exits 0 on SIGTERM',
    async () => {
      fake = await startFakeDiscord();
      temp = await mkdtemp(path.join(os.tmpdir(), 'stylebot-main-'));
      const dataDir = path.join(temp, 'data', 'nested');
      const child = startMain({
        ...fake.env(),
        VGG19_WEIGHTS: SHARED_VGG19,
        ENGINE_BACKEND: 'wasm',
        ENGINE_WORKERS: '1',
        DATA_DIR: dataDir,
      });
      await fake.waitUntil(() => /"msg":"ready as /.test(child.output()), 90_000, 'the ready log line');
      expect(child.output()).toMatch(/ready as .*: 1 engine worker\(s\) on wasm/);
      // The data folder (saved styles, kept inputs) is created on first start.
      expect(existsSync(path.join(dataDir, 'stylebot.sqlite'))).toBe(true);
      expect(child.output()).toMatch(/"msg":"engine worker ready".*"weights":"[^"]*vgg19-uint8"|"weights":"[^"]*vgg19-uint8".*"msg":"engine worker ready"/);
      child.kill('SIGTERM');
      expect(await child.exit).toBe(0);
      expect(child.output()).toMatch(/shut down cleanly/);
      expect(child.output()).not.toContain(fake.token);
    },
    120_000,
  );
});

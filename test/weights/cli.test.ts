import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_VGG19_WEIGHTS } from '../../src/weights/verified-download.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';
import { writeTfjsModel } from '../helpers/weights-fixtures.ts';
import { startLoopbackServer } from './loopback-server.ts';
import { useTempDirs } from './temp-dir.ts';
import { SHARED_VGG19 } from '../helpers/shared-data.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const sharedModel = SHARED_VGG19;
const tempDir = useTempDirs();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  /** WEIGHTS_DIR; a fresh folder by default. */
  cacheDir?: string;
  /** Run as this user (and its group), e.g. to meet file permissions even when the tests run as root. */
  uid?: number;
}

/** `npm run weights` as an admin runs it: a real process, configured through the environment only. */
async function runCli(env: Record<string, string>, args: string[] = [], options: RunOptions = {}): Promise<Run> {
  const cacheDir = options.cacheDir ?? (await tempDir());
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/weights.ts', ...args],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH,
          DOTENV_CONFIG_PATH: path.join(cacheDir, 'no.env'),
          WEIGHTS_DIR: cacheDir,
          LOG_FORMAT: 'json',
          ...env,
        },
        timeout: 30_000,
        ...(options.uid !== undefined && { uid: options.uid, gid: options.uid }),
      },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

describe('npm run weights', () => {
  it('prints one line on stderr and exits 2 for a model with the wrong shapes', async () => {
    // A TF.js model rather than an .h5: importing h5wasm under tsx would add seconds to this test.
    const modelJson = await writeTfjsModel(await tempDir(), makeTinyVggWeights());
    const run = await runCli({ VGG19_WEIGHTS: modelJson });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`${modelJson}: block1_conv1 kernel has shape [3,3,3,4], VGG19 needs [3,3,3,64]\n`);
  });

  it('exits 2 naming the URL when the download fails', async () => {
    const server = await startLoopbackServer();
    try {
      const url = server.url('/gone/vgg19.h5');
      const run = await runCli({}, ['--weights', url]);
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(`HTTP 404 Not Found from ${url}\n`);
      expect(run.stdout).toContain('Fetching VGG19 weights from');
    } finally {
      await server.close();
    }
  });

  it('forgets a cached copy of a URL that fails to load, so the next run fetches it again', async () => {
    const served = await tempDir();
    await writeTfjsModel(served, makeTinyVggWeights());
    const server = await startLoopbackServer();
    try {
      for (const name of await readdir(served)) {
        server.route(`/tfjs/${name}`, { body: await readFile(path.join(served, name)) });
      }
      const url = server.url('/tfjs/model.json');
      const cacheDir = await tempDir();
      const expected = `${url}: block1_conv1 kernel has shape [3,3,3,4], VGG19 needs [3,3,3,64]\n`;
      for (const attempt of [1, 2]) {
        const run = await runCli({ VGG19_WEIGHTS: url }, [], { cacheDir });
        expect(run.code, `run ${attempt}`).toBe(2);
        expect(run.stderr, `run ${attempt}`).toBe(expected);
      }
      expect(server.hits('/tfjs/model.json')).toBe(2);
      const remote = await readdir(path.join(cacheDir, 'remote'));
      expect(remote).toHaveLength(1);
      expect(await readdir(path.join(cacheDir, 'remote', remote[0]!))).not.toContain('complete.json');
    } finally {
      await server.close();
    }
  });

  it('prints one line and exits 2 when the cached default file cannot be read (EACCES)', async () => {
    const cacheDir = await tempDir();
    await chmod(cacheDir, 0o755);
    const file = path.join(cacheDir, DEFAULT_VGG19_WEIGHTS.fileName);
    // The right size (sparse, so cheap), so that the MD5 check has to read it.
    await writeFile(file, '');
    await truncate(file, DEFAULT_VGG19_WEIGHTS.bytes);
    await chmod(file, 0o000);
    // Root reads any file, so as root the CLI runs as nobody, as a bot started by another user would.
    const uid = process.getuid?.() === 0 ? 65534 : undefined;
    const run = await runCli({}, ['--quiet'], { cacheDir, uid });
    expect(run.stderr).toBe(`Cannot read the cached weights ${file}: permission denied\n`);
    expect(run.code).toBe(2);
  });

  it.skipIf(!existsSync(sharedModel))('checks real weights and prints a summary', async () => {
    const run = await runCli({ VGG19_WEIGHTS: sharedModel });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `VGG19 weights ready: ${sharedModel}\\n  from VGG19_WEIGHTS \\(TF.js model\\)\\n` +
          '  16 layers \\(block1_conv1 … block5_conv4\\), 20,024,384 parameters, ready in [\\d.]+ s\\n$',
      ),
    );
    // The model's manifest agrees on the parameter count.
    const model = JSON.parse(await readFile(path.join(sharedModel, 'model.json'), 'utf8')) as {
      weightsManifest: { weights: { shape: number[] }[] }[];
    };
    const count = model.weightsManifest[0]!.weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);
    expect(count).toBe(20_024_384);
  });
});

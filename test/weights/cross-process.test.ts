import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadWeights } from '../../src/weights/index.ts';
import type { LoopbackServer } from './loopback-server.ts';
import type { ChildStartResult } from './start-in-child-process.ts';
import { DEFAULT_FILE_NAME, DEFAULT_ROUTE, useDefaultDownloadFixture } from './default-download-fixture.ts';
import { valuesMd5 } from './values-md5.ts';

const fixture = useDefaultDownloadFixture();
const { tiny, tempDir, spec } = fixture;
const FILE_NAME = DEFAULT_FILE_NAME;
const ROUTE = DEFAULT_ROUTE;
const repoRoot = path.resolve(import.meta.dirname, '../..');
let h5Bytes: Buffer;
let server: LoopbackServer;
beforeEach(() => {
  h5Bytes = fixture.h5Bytes();
  server = fixture.server();
});

interface ChildLine {
  log?: string;
  done?: ChildStartResult;
  error?: string;
}

/** A bot start in its own Node process (start-in-child-process.ts), with its stdout read line by line. */
function startChild(cacheDir: string) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/weights/start-in-child-process.ts', cacheDir, JSON.stringify(spec())],
    { cwd: repoRoot, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: ChildLine[] = [];
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    const complete = stdout.split('\n');
    stdout = complete.pop()!;
    lines.push(...complete.filter(Boolean).map((line) => JSON.parse(line) as ChildLine));
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let exited = false;
  void exit.then(() => (exited = true));
  return {
    lines,
    exit,
    stderr: () => stderr,
    /** Resolves once a log line matches; rejects if the process ends first or after `timeoutMs`. */
    async waitForLog(pattern: RegExp, timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!lines.some((line) => line.log !== undefined && pattern.test(line.log))) {
        if (exited) throw new Error(`the child exited before logging ${pattern}: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`the child did not log ${pattern} within ${timeoutMs} ms`);
        await sleep(20);
      }
    },
    kill: () => child.kill(),
  };
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('several processes sharing one weights folder', () => {
  it('a second start in another process waits for the download in progress, then uses the verified file', async () => {
    let finishDownload!: () => void;
    const held = new Promise<void>((resolve) => (finishDownload = resolve));
    server.route(ROUTE, { body: h5Bytes, pauseAfter: 2000, holdUntil: held });
    const cacheDir = await tempDir();

    // The first start, in this process, holds the lock once its request reaches the server.
    const first = loadWeights(
      { source: undefined, cacheDir },
      { shapes: 'consistent', progress: 'none', download: spec() },
    );
    first.catch(() => undefined); // awaited below; this only keeps an early test failure from leaving it unhandled
    await waitUntil(() => server.hits(ROUTE) === 1, 'the first request');
    const second = startChild(cacheDir);
    try {
      // Only released once the second process says it is waiting: the overlap is certain, not a matter of timing.
      await second.waitForLog(new RegExp(`^Another process is downloading ${FILE_NAME} into `), 20_000);
      expect(server.hits(ROUTE)).toBe(1);
      finishDownload();
      const weights = await first;
      expect(await second.exit, second.stderr()).toBe(0);

      const done = second.lines.find((line) => line.done)?.done;
      expect(done).toEqual({
        file: path.join(cacheDir, FILE_NAME),
        downloaded: false,
        layers: 16,
        valuesMd5: valuesMd5(tiny.layers.values()),
      });
      expect(valuesMd5(weights.layers.values())).toBe(done!.valuesMd5);
      expect(server.hits(ROUTE)).toBe(1);
      expect((await readFile(path.join(cacheDir, FILE_NAME))).equals(h5Bytes)).toBe(true);
      expect((await readdir(cacheDir)).sort()).toEqual(['converted', FILE_NAME]); // no .part, no .lock
    } finally {
      finishDownload();
      second.kill();
    }
  });
});

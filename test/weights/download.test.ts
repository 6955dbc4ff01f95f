import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.ts';
import { memoryDestination } from '../helpers/memory-log.ts';
import { loadWeights, type LoadWeightsOptions, type LocateOptions } from '../../src/weights/index.ts';
import { writeTfjsModel } from '../helpers/weights-fixtures.ts';
import { expectWeightsError } from './expect-weights-error.ts';
import { startLoopbackServer, type LoopbackServer } from './loopback-server.ts';
import { DEFAULT_FILE_NAME, md5, useDefaultDownloadFixture } from './default-download-fixture.ts';

const fixture = useDefaultDownloadFixture();
const { tiny, tempDir, spec } = fixture;
const FILE_NAME = DEFAULT_FILE_NAME;
let h5Bytes: Buffer;
let server: LoopbackServer;
beforeEach(() => {
  h5Bytes = fixture.h5Bytes();
  server = fixture.server();
});

function capture() {
  const { stream, lines } = memoryDestination();
  const logger = createLogger({ level: 'debug', destination: stream });
  const messages = () => lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
  return { logger, messages };
}

/** Start-up as the bot does it, on the tiny model, with downloads from the loopback server. */
function start(cacheDir: string, options: LoadWeightsOptions & LocateOptions & { source?: string } = {}) {
  const { source, ...rest } = options;
  return loadWeights({ source, cacheDir }, { shapes: 'consistent', progress: 'none', download: spec(), ...rest });
}

describe('default weights: download on first start', () => {
  it('downloads, verifies and saves the file, then reuses it without a request', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes });
    const cacheDir = path.join(await tempDir(), 'models');
    const { logger, messages } = capture();
    const weights = await start(cacheDir, { logger, progress: 'log' });
    expect(weights.layers.size).toBe(16);
    expect(weights.source).toBe(path.join(cacheDir, FILE_NAME));
    expect((await readdir(cacheDir)).sort()).toEqual(['converted', FILE_NAME]); // no .part, no .lock
    expect((await readFile(path.join(cacheDir, FILE_NAME))).equals(h5Bytes)).toBe(true);
    expect(messages()).toContainEqual(
      expect.stringMatching(/^Downloading vgg19_weights_tf_dim_ordering_tf_kernels_notop\.h5 \(0\.\d MB\)$/),
    );
    expect(messages()).toContainEqual(expect.stringMatching(/^Saved verified VGG19 weights to /));

    const again = await start(cacheDir, { logger });
    expect(again.layers.size).toBe(16);
    expect(server.hits('/keras/notop.h5')).toBe(1);
  });

  it('follows a redirect', async () => {
    server.route('/moved.h5', { redirectTo: '/keras/notop.h5' });
    server.route('/keras/notop.h5', { body: h5Bytes });
    const cacheDir = await tempDir();
    const weights = await start(cacheDir, { download: spec('/moved.h5') });
    expect(weights.layers.size).toBe(16);
    expect(server.hits('/moved.h5')).toBe(1);
    expect(server.hits('/keras/notop.h5')).toBe(1);
  });

  it('refuses a checksum mismatch and leaves nothing behind', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes });
    const cacheDir = await tempDir();
    const wrong = '0'.repeat(32);
    await expectWeightsError(
      start(cacheDir, { download: spec(undefined, { md5: wrong }) }),
      `${server.url('/keras/notop.h5')} failed its checksum (MD5 ${md5(h5Bytes)}, expected ${wrong}); the download was discarded`,
    );
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('refuses a file of the wrong size', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes });
    const cacheDir = await tempDir();
    await expectWeightsError(
      start(cacheDir, { download: spec(undefined, { bytes: h5Bytes.length + 1 }) }),
      `sent ${h5Bytes.length.toLocaleString('en-US')} bytes, expected ${(h5Bytes.length + 1).toLocaleString('en-US')}`,
    );
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('names an HTML page served in place of the file', async () => {
    server.route('/keras/notop.h5', {
      body: '<!doctype html><html><body>Quota exceeded</body></html>',
      headers: { 'content-type': 'text/html' },
    });
    const cacheDir = await tempDir();
    await expectWeightsError(
      start(cacheDir),
      `${server.url('/keras/notop.h5')} returned a web page (HTML/XML), not weights`,
    );
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('names the HTTP status of a 404', async () => {
    const cacheDir = await tempDir();
    await expectWeightsError(start(cacheDir), `HTTP 404 Not Found from ${server.url('/keras/notop.h5')}`);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('discards a body cut off mid-way, and the next start downloads cleanly', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes, cutAfter: 1000 });
    const cacheDir = await tempDir();
    await expectWeightsError(
      start(cacheDir),
      `Download of ${server.url('/keras/notop.h5')} was cut off after 1,000 of ${h5Bytes.length.toLocaleString('en-US')} bytes`,
    );
    expect(await readdir(cacheDir)).toEqual([]);

    server.route('/keras/notop.h5', { body: h5Bytes });
    expect((await start(cacheDir)).layers.size).toBe(16);
    expect((await readdir(cacheDir)).sort()).toEqual(['converted', FILE_NAME]); // no .part, no .lock
  });

  it('times out when the server does not answer', async () => {
    server.route('/keras/notop.h5', { hang: true });
    const cacheDir = await tempDir();
    await expectWeightsError(
      start(cacheDir, { timeoutMs: 300 }),
      `Timed out after 0.3 s waiting for ${server.url('/keras/notop.h5')}`,
    );
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('times out when the body stalls', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes, pauseAfter: 100, pauseMs: 5000 });
    const cacheDir = await tempDir();
    await expectWeightsError(
      start(cacheDir, { timeoutMs: 300 }),
      `Download of ${server.url('/keras/notop.h5')} stalled: no data for 0.3 s after 100 bytes`,
    );
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('names a cache folder that cannot be created', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes });
    const blocker = path.join(await tempDir(), 'models');
    await writeFile(blocker, 'a file where the folder should be');
    await expectWeightsError(
      start(path.join(blocker, 'cache')),
      `Cannot create the weights folder ${path.join(blocker, 'cache')}`,
    );
    expect(server.hits('/keras/notop.h5')).toBe(0);
  });

  it('names a host that refuses connections', async () => {
    const closed = await startLoopbackServer();
    const url = closed.url('/notop.h5');
    await closed.close();
    await expectWeightsError(
      start(await tempDir(), { download: spec(undefined, { url }) }),
      `Could not download ${url}: connection refused`,
    );
  });

  it('a second start waits for the download in progress and uses its result', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes, pauseAfter: 2000, pauseMs: 1200 });
    const cacheDir = await tempDir();
    const first = capture();
    const second = capture();
    const [a, b] = await Promise.all([
      start(cacheDir, { logger: first.logger }),
      // Starts once the first holds the lock and is part-way through the body.
      new Promise((resolve) => setTimeout(resolve, 300)).then(() => start(cacheDir, { logger: second.logger })),
    ]);
    expect(a.layers.size).toBe(16);
    expect(b.layers.size).toBe(16);
    expect(server.hits('/keras/notop.h5')).toBe(1);
    expect(second.messages()).toContainEqual(expect.stringContaining(`Another process is downloading ${FILE_NAME}`));
    expect((await readdir(cacheDir)).sort()).toEqual(['converted', FILE_NAME]); // no .part, no .lock
  });

  it('restarts after a crash: discards the leftover .part and takes over the stale lock', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes });
    const cacheDir = await tempDir();
    const target = path.join(cacheDir, FILE_NAME);
    await writeFile(`${target}.part`, h5Bytes.subarray(0, 500));
    await mkdir(`${target}.lock`);
    const minuteAgo = new Date(Date.now() - 60_000);
    await utimes(`${target}.lock`, minuteAgo, minuteAgo);
    expect((await start(cacheDir)).layers.size).toBe(16);
    expect((await readdir(cacheDir)).sort()).toEqual(['converted', FILE_NAME]); // no .part, no .lock
    expect((await readFile(target)).equals(h5Bytes)).toBe(true);
  });

  it('names a folder in place of the cached file, and leaves it alone', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes });
    const cacheDir = await tempDir();
    const file = path.join(cacheDir, FILE_NAME);
    await mkdir(path.join(file, 'inside'), { recursive: true });
    const message = await expectWeightsError(start(cacheDir));
    expect(message).toBe(`${file} is a folder, not the weights file`);
    expect(await readdir(file)).toEqual(['inside']);
    expect(server.hits('/keras/notop.h5')).toBe(0);
  });

  it('replaces a cached file that fails verification', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes });
    const cacheDir = await tempDir();
    const corrupt = Buffer.from(h5Bytes);
    corrupt[corrupt.length - 1]! ^= 0xff;
    await writeFile(path.join(cacheDir, FILE_NAME), corrupt);
    const { logger, messages } = capture();
    expect((await start(cacheDir, { logger })).layers.size).toBe(16);
    expect(messages()).toContainEqual(expect.stringContaining(`its MD5 is ${md5(corrupt)}, expected ${md5(h5Bytes)}`));
    expect((await readFile(path.join(cacheDir, FILE_NAME))).equals(h5Bytes)).toBe(true);
    expect(server.hits('/keras/notop.h5')).toBe(1);
  });
});

describe('progress display', () => {
  function fakeTerminal(isTTY: boolean) {
    const chunks: string[] = [];
    const stream = Object.assign(
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          chunks.push(chunk.toString());
          done();
        },
      }),
      { isTTY },
    );
    return { stream, output: () => chunks.join('') };
  }

  it('draws a bar on a terminal', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes });
    const terminal = fakeTerminal(true);
    const { logger, messages } = capture();
    await start(await tempDir(), { progress: 'auto', progressStream: terminal.stream, logger });
    expect(terminal.output()).toMatch(/^\rvgg19_weights_tf_dim_ordering_tf_kernels_notop\.h5 \[-{30}\] {3}0% /);
    expect(terminal.output()).toContain(`[${'#'.repeat(30)}] 100% `);
    expect(terminal.output().endsWith('\n')).toBe(true);
    expect(messages().filter((m) => m.startsWith('Downloading'))).toEqual([]);
  });

  it('writes log lines when stderr is not a terminal', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes });
    const terminal = fakeTerminal(false);
    const { logger, messages } = capture();
    await start(await tempDir(), { progress: 'auto', progressStream: terminal.stream, logger });
    expect(terminal.output()).toBe('');
    expect(messages()).toContainEqual(
      expect.stringMatching(/^Downloaded vgg19_weights_tf_dim_ordering_tf_kernels_notop\.h5: 0\.\d MB in [\d.]+ s$/),
    );
  });
});

describe('VGG19_WEIGHTS pointing at a URL', () => {
  it('fetches a Keras file once into the cache and reuses it', async () => {
    server.route('/mine/vgg19.h5', { body: h5Bytes });
    const cacheDir = await tempDir();
    const url = server.url('/mine/vgg19.h5');
    const weights = await start(cacheDir, { source: url });
    expect(weights.source).toBe(url);
    expect(weights.layers.size).toBe(16);
    await start(cacheDir, { source: url });
    expect(server.hits('/mine/vgg19.h5')).toBe(1);
    expect(server.hits('/keras/notop.h5')).toBe(0);
  });

  it('fetches a TF.js model.json and every shard it names', async () => {
    const dir = await tempDir();
    const modelJson = await writeTfjsModel(dir, tiny, { quantize: 'uint8', shardBytes: 1500 });
    const model = JSON.parse(await readFile(modelJson, 'utf8')) as { weightsManifest: { paths: string[] }[] };
    const shards = model.weightsManifest[0]!.paths;
    server.route('/tfjs/model.json', { body: await readFile(modelJson) });
    for (const shard of shards) server.route(`/tfjs/${shard}`, { body: await readFile(path.join(dir, shard)) });
    const cacheDir = await tempDir();
    const weights = await start(cacheDir, { source: server.url('/tfjs/model.json') });
    const local = await loadWeights(dir, { shapes: 'consistent' });
    expect(weights.layers.get('block5_conv4')!.kernel).toEqual(local.layers.get('block5_conv4')!.kernel);
    await start(cacheDir, { source: server.url('/tfjs/model.json') });
    expect(shards.map((shard) => server.hits(`/tfjs/${shard}`))).toEqual(shards.map(() => 1));
  });

  it('names a shard that is not on the server', async () => {
    const dir = await tempDir();
    const modelJson = await writeTfjsModel(dir, tiny, { shardBytes: 3000 });
    server.route('/tfjs/model.json', { body: await readFile(modelJson) });
    const cacheDir = await tempDir();
    await expectWeightsError(
      start(cacheDir, { source: server.url('/tfjs/model.json') }),
      `HTTP 404 Not Found from ${server.url('/tfjs/group1-shard1of')}`,
    );
    expect(await readdir(path.join(cacheDir, 'remote'))).toEqual([]);
  });

  it('is an error when its shapes are wrong, never a fallback, and the bad copy is fetched again next time', async () => {
    server.route('/mine/vgg19.h5', { body: h5Bytes });
    server.route('/keras/notop.h5', { body: h5Bytes });
    const cacheDir = await tempDir();
    const url = server.url('/mine/vgg19.h5');
    await expectWeightsError(
      start(cacheDir, { source: url, shapes: 'vgg19' }),
      `${url}: block1_conv1 kernel has shape [3,3,3,4]`,
    );
    await expectWeightsError(start(cacheDir, { source: url, shapes: 'vgg19' }), `${url}: block1_conv1 kernel`);
    expect(server.hits('/mine/vgg19.h5')).toBe(2);
    expect(server.hits('/keras/notop.h5')).toBe(0);
  });

  it('names an HTML page served in place of the weights in one line, and caches nothing', async () => {
    server.route('/mine/vgg19.h5', {
      body: '<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n<body>Please log in</body></html>\n',
      headers: { 'content-type': 'text/html; charset=utf-8' },
    });
    server.route('/keras/notop.h5', { body: h5Bytes });
    const cacheDir = await tempDir();
    const url = server.url('/mine/vgg19.h5');
    const expected =
      `${url} is a web page (HTML/XML), not weights: ` +
      'an error or login page was probably saved in place of the file';
    expect(await expectWeightsError(start(cacheDir, { source: url }))).toBe(expected);
    expect(await readdir(cacheDir)).toEqual(['remote']);
    expect(await readdir(path.join(cacheDir, 'remote'))).toEqual([]);
    // Nothing was kept: the next start asks again, and never falls back to the default file.
    expect(await expectWeightsError(start(cacheDir, { source: url }))).toBe(expected);
    expect(server.hits('/mine/vgg19.h5')).toBe(2);
    expect(server.hits('/keras/notop.h5')).toBe(0);
  });

  it('keeps credentials in the query string out of messages', async () => {
    const cacheDir = await tempDir();
    const message = await expectWeightsError(
      start(cacheDir, { source: `${server.url('/private/vgg19.h5')}?X-Amz-Signature=SECRET123` }),
      `HTTP 404 Not Found from ${server.url('/private/vgg19.h5')}?…`,
    );
    expect(message).not.toContain('SECRET123');
  });
});

describe('VGG19_WEIGHTS pointing at a local file', () => {
  it('is loaded strictly: wrong shapes are an error and nothing is downloaded', async () => {
    server.route('/keras/notop.h5', { body: h5Bytes });
    const file = path.join(await tempDir(), 'mine.h5');
    await writeFile(file, h5Bytes);
    await expectWeightsError(
      start(await tempDir(), { source: file, shapes: 'vgg19' }),
      `${file}: block1_conv1 kernel has shape`,
    );
    expect(server.hits('/keras/notop.h5')).toBe(0);
  });

  it('loads a good file', async () => {
    const file = path.join(await tempDir(), 'mine.h5');
    await writeFile(file, h5Bytes);
    expect((await start(await tempDir(), { source: file })).source).toBe(file);
  });
});

describe('loadWeights from a URL', () => {
  it('loads without touching any cache and names the URL', async () => {
    server.route('/direct/vgg19.h5', { body: h5Bytes });
    const weights = await loadWeights(`${server.url('/direct/vgg19.h5')}?token=abc`, { shapes: 'consistent' });
    expect(weights.source).toBe(`${server.url('/direct/vgg19.h5')}?…`);
    expect(weights.layers.size).toBe(16);
  });
});

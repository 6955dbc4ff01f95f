import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach } from 'vitest';
import type { VggWeights } from '../../src/weights/types.ts';
import type { DownloadSpec } from '../../src/weights/verified-download.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';
import { writeKerasH5 } from '../helpers/weights-fixtures.ts';
import { startLoopbackServer, type LoopbackServer } from './loopback-server.ts';
import { useTempDirs } from './temp-dir.ts';

export const DEFAULT_FILE_NAME = 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5';
export const DEFAULT_ROUTE = '/keras/notop.h5';

export const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

export interface DefaultDownloadFixture {
  readonly tiny: VggWeights;
  /** The tiny model as a Keras .h5, the bytes the "default download" serves. */
  h5Bytes(): Buffer;
  /** A fresh loopback server per test. */
  server(): LoopbackServer;
  /** The default download pointed at the loopback server, with the fixture's MD5 and size. */
  spec(pathname?: string, overrides?: Partial<DownloadSpec>): DownloadSpec;
  tempDir(): Promise<string>;
}

/** Stands in for the canonical Keras download: a tiny .h5 served from a loopback server started per test. */
export function useDefaultDownloadFixture(): DefaultDownloadFixture {
  const tempDir = useTempDirs();
  const tiny = makeTinyVggWeights();
  let bytes: Buffer | undefined;
  let current: LoopbackServer | undefined;
  beforeAll(async () => {
    const file = path.join(await tempDir(), DEFAULT_FILE_NAME);
    await writeKerasH5(file, tiny);
    bytes = await readFile(file);
  });
  beforeEach(async () => {
    current = await startLoopbackServer();
  });
  afterEach(async () => {
    await current?.close();
  });
  const h5Bytes = () => bytes!;
  const server = () => current!;
  return {
    tiny,
    h5Bytes,
    server,
    tempDir,
    spec: (pathname = DEFAULT_ROUTE, overrides = {}) => ({
      url: server().url(pathname),
      md5: md5(h5Bytes()),
      bytes: h5Bytes().length,
      fileName: DEFAULT_FILE_NAME,
      ...overrides,
    }),
  };
}
